// POSAI admin page glue: a fresh session token on every htmx request, errors shown, 401s retried.
//
// htmx 2 sends XMLHttpRequests and App Bridge only patches window.fetch, so htmx requests would
// go out without a session token. We hook `htmx:confirm` (fired before every request), await
// the token, then let htmx issue the request, adding the header in `htmx:configRequest`.
// Inside Shopify the token is App Bridge's `shopify.idToken()`; in demo mode (outside the
// iframe, no App Bridge) it is the server-minted token in <meta name="posai-demo-token">,
// refreshed from its data-refresh-url shortly before it expires.
(function () {
  "use strict";

  var RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request";
  var demoMeta = document.querySelector('meta[name="posai-demo-token"]');
  var demoToken = demoMeta ? demoMeta.getAttribute("content") : null;
  var pendingToken = null;

  function tokenExpiry(token) {
    try {
      var payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(payload)).exp * 1000;
    } catch (e) {
      return 0;
    }
  }

  function refreshDemoToken() {
    var url = demoMeta.getAttribute("data-refresh-url");
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("demo token refresh failed (" + response.status + ")");
        return response.json();
      })
      .then(function (body) {
        demoToken = body.token;
        return demoToken;
      });
  }

  function sessionToken(forceFresh) {
    if (window.shopify && typeof window.shopify.idToken === "function") {
      return Promise.resolve(window.shopify.idToken());
    }
    if (demoMeta) {
      if (!forceFresh && demoToken && tokenExpiry(demoToken) - Date.now() > 20000) {
        return Promise.resolve(demoToken);
      }
      return refreshDemoToken();
    }
    return Promise.reject(new Error("App Bridge is not loaded: open POSAI from your Shopify admin."));
  }

  function showError(html, text) {
    var box = document.getElementById("app-errors");
    if (!box) return;
    if (html) {
      box.innerHTML = html; // our own server-rendered _error.html fragment (Jinja-escaped)
    } else {
      box.textContent = "";
      var div = document.createElement("div");
      div.className = "banner banner--critical";
      div.textContent = text;
      box.appendChild(div);
    }
  }

  function clearError() {
    var box = document.getElementById("app-errors");
    if (box) box.innerHTML = "";
  }

  document.addEventListener("htmx:confirm", function (evt) {
    evt.preventDefault();
    var detail = evt.detail;
    if (detail.question && !window.confirm(detail.question)) return;
    var elt = detail.elt;
    sessionToken(elt && elt.__posaiForceFreshToken)
      .then(function (token) {
        if (elt) elt.__posaiForceFreshToken = false;
        pendingToken = token;
        try {
          detail.issueRequest(true);
        } finally {
          pendingToken = null;
        }
      })
      .catch(function (err) {
        showError(null, err && err.message ? err.message : "Could not get a session token.");
      });
  });

  document.addEventListener("htmx:configRequest", function (evt) {
    if (pendingToken) evt.detail.headers["Authorization"] = "Bearer " + pendingToken;
  });

  document.addEventListener("htmx:afterRequest", function (evt) {
    var xhr = evt.detail.xhr;
    var elt = evt.detail.elt;
    if (!xhr) return;
    if (xhr.status === 401 && xhr.getResponseHeader(RETRY_HEADER) === "1" && elt && !elt.__posaiRetried) {
      // The token expired or was refused: fetch a fresh one and try once more.
      elt.__posaiRetried = true;
      elt.__posaiForceFreshToken = true;
      var cfg = evt.detail.requestConfig || {};
      window.htmx.ajax(cfg.verb || "get", cfg.path, { source: elt, target: evt.detail.target });
      return;
    }
    if (elt) elt.__posaiRetried = false;
    if (evt.detail.successful && isWrite(evt.detail)) clearError();
  });

  function isWrite(detail) {
    var verb = detail.requestConfig && detail.requestConfig.verb;
    return verb && verb.toLowerCase() !== "get";
  }

  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr.status === 401 && xhr.getResponseHeader(RETRY_HEADER) === "1" && !evt.detail.elt.__posaiRetried) {
      return; // retried in htmx:afterRequest
    }
    var type = xhr.getResponseHeader("Content-Type") || "";
    if (type.indexOf("text/html") === 0 && xhr.responseText.length < 5000) {
      showError(xhr.responseText);
    } else {
      showError(null, "Request failed (" + xhr.status + "). Please try again.");
    }
  });

  document.addEventListener("htmx:sendError", function () {
    showError(null, "Network error: check your connection and try again.");
  });

  // Enter in a search box must not submit the surrounding form (it would press the first "Add").
  document.addEventListener("keydown", function (evt) {
    var t = evt.target;
    if (evt.key === "Enter" && t && t.hasAttribute && t.hasAttribute("data-no-submit")) {
      evt.preventDefault();
    }
  });

  // --- Shopify's App Home conventions, and what stands in for them outside Shopify ---------------
  //
  // Inside the admin, App Bridge (app-bridge.js) shows the title bar from <s-page heading>, the
  // nav from <s-app-nav>, toasts (shopify.toast.show) and the contextual save bar for
  // <form data-save-bar> (Save fires `submit`, Discard fires `reset`), and polaris.js defines the
  // <s-*> elements. Outside Shopify (demo mode, or the CDN unreachable) neither is there: a
  // small fallback below keeps the page usable (buttons and fields made of native controls, a
  // plain save bar, a plain toast); posai.css keeps it readable.
  var hasAppBridgeUi = !!(window.shopify && window.shopify.saveBar);

  // The fallback's one toast box and one save bar: made on first use, at the end of <body>,
  // with the id and class posai.css styles; `build` fills a new one.
  function bodyElement(id, role, build) {
    var el = document.getElementById(id);
    if (!el) {
      el = document.createElement("div");
      el.id = id;
      el.className = id;
      el.setAttribute("role", role);
      if (build) build(el);
      document.body.appendChild(el);
    }
    return el;
  }

  function toast(message) {
    if (window.shopify && window.shopify.toast && typeof window.shopify.toast.show === "function") {
      window.shopify.toast.show(message);
      return;
    }
    var box = bodyElement("posai-toast", "status");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(box.__posaiTimer);
    box.__posaiTimer = setTimeout(function () { box.hidden = true; }, 5000);
  }

  // A success message in a swapped fragment (data-toast) becomes a toast, as in the admin.
  function toastSwapped(root) {
    if (!root || !root.querySelectorAll) return;
    var notes = root.querySelectorAll("[data-toast]");
    for (var i = 0; i < notes.length; i++) {
      toast(notes[i].textContent.trim());
      notes[i].remove();
    }
  }

  // Polaris stand-ins, defined only when polaris.js did not define the element. Each renders
  // native controls in the light DOM, so forms, labels, focus and htmx work as usual.
  function attr(el, name) { return el.getAttribute(name); }
  var fieldSeq = 0;

  function fieldShell(host, control) {
    var id = host.id ? host.id + "-input" : "posai-field-" + ++fieldSeq;
    control.id = id;
    var label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = attr(host, "label") || "";
    if (attr(host, "labelaccessibilityvisibility") === "exclusive") label.className = "visually-hidden";
    var described = [];
    ["details", "error"].forEach(function (kind) {
      var text = attr(host, kind);
      if (!text) return;
      var p = document.createElement("p");
      p.className = kind === "error" ? "error" : "help";
      p.id = id + "-" + kind;
      p.textContent = text;
      described.push(p);
    });
    if (attr(host, "error")) control.setAttribute("aria-invalid", "true");
    if (described.length) {
      control.setAttribute("aria-describedby", described.map(function (p) { return p.id; }).join(" "));
    }
    return [label, control].concat(described);
  }

  function defineFallback(tag, build) {
    if (!window.customElements || window.customElements.get(tag)) return;
    window.customElements.define(tag, class extends HTMLElement {
      connectedCallback() {
        if (this.__posaiBuilt) return;
        this.__posaiBuilt = true;
        this.setAttribute("data-fallback", "");
        build(this);
      }
      get name() { return this.getAttribute("name"); }
      get value() { return this.__posaiControl ? this.__posaiControl.value : this.getAttribute("value"); }
      set value(v) { if (this.__posaiControl) this.__posaiControl.value = v; }
    });
  }

  function inputField(type) {
    return function (host) {
      var input = document.createElement("input");
      input.type = type;
      input.className = "input";
      ["name", "value", "min", "max", "step", "placeholder", "maxlength", "list", "autocomplete"].forEach(
        function (a) { if (host.hasAttribute(a)) input.setAttribute(a, attr(host, a)); }
      );
      if (attr(host, "inputmode")) input.inputMode = attr(host, "inputmode");
      if (host.hasAttribute("required")) input.required = true;
      if (type === "search") input.setAttribute("data-no-submit", "");
      // htmx's hx-get sits on the host, which then carries the query: keep the name off the input.
      if (host.hasAttribute("hx-get")) input.removeAttribute("name");
      host.__posaiControl = input;
      host.append.apply(host, fieldShell(host, input));
    };
  }

  defineFallback("s-number-field", inputField("number"));
  defineFallback("s-text-field", inputField("text"));
  defineFallback("s-search-field", inputField("search"));
  defineFallback("s-checkbox", function (host) {
    var input = document.createElement("input");
    input.type = "checkbox";
    input.name = attr(host, "name") || "";
    input.value = attr(host, "value") || "on";
    input.checked = host.hasAttribute("checked");
    input.defaultChecked = input.checked;
    host.__posaiControl = input;
    var parts = fieldShell(host, input);
    parts[0].className = "checkbox";
    parts[0].insertBefore(input, parts[0].firstChild);
    host.append.apply(host, [parts[0]].concat(parts.slice(2)));
  });
  defineFallback("s-select", function (host) {
    var select = document.createElement("select");
    select.className = "input";
    select.name = attr(host, "name") || "";
    Array.prototype.slice.call(host.querySelectorAll("s-option")).forEach(function (opt) {
      var o = document.createElement("option");
      o.value = attr(opt, "value");
      o.textContent = opt.textContent;
      o.selected = opt.hasAttribute("selected") || attr(host, "value") === o.value;
      select.appendChild(o);
      opt.remove();
    });
    host.__posaiControl = select;
    host.append.apply(host, fieldShell(host, select));
  });
  if (window.customElements && !window.customElements.get("s-button")) {
    window.customElements.define("s-button", class extends HTMLElement {
      static get observedAttributes() { return ["disabled"]; }
      connectedCallback() {
        this.setAttribute("data-fallback", "");
        this.setAttribute("role", "button");
        if (attr(this, "accessibilitylabel")) this.setAttribute("aria-label", attr(this, "accessibilitylabel"));
        this.attributeChangedCallback();
        if (this.__posaiBound) return;
        this.__posaiBound = true;
        this.addEventListener("keydown", function (evt) {
          if (evt.key === "Enter" || evt.key === " ") { evt.preventDefault(); this.click(); }
        });
        this.addEventListener("click", function (evt) {
          if (this.hasAttribute("disabled")) { evt.stopImmediatePropagation(); evt.preventDefault(); return; }
          var form = attr(this, "type") === "submit" && this.closest("form");
          if (form) form.requestSubmit();
        }, true);
      }
      attributeChangedCallback() {
        var off = this.hasAttribute("disabled");
        this.setAttribute("tabindex", off ? "-1" : "0");
        this.setAttribute("aria-disabled", off ? "true" : "false");
      }
    });
  }

  // The save bar. App Bridge handles <form data-save-bar> itself; without it, a plain bar with
  // the same two actions appears while the form differs from what was saved.
  var saved = null; // the settings form's state as last saved (or loaded)

  function formState(form) {
    var parts = [];
    new FormData(form).forEach(function (v, k) { parts.push(k + "=" + v); });
    return parts.sort().join("&");
  }

  function saveBar() {
    return bodyElement("posai-save-bar", "region", function (bar) {
      bar.setAttribute("aria-label", "Unsaved changes");
      bar.hidden = true;
      bar.innerHTML =
        '<p>Unsaved changes</p><div class="posai-save-bar__actions">' +
        '<button type="button" class="button" data-action="discard">Discard</button>' +
        '<button type="button" class="button button--primary" data-action="save">Save</button></div>';
      bar.addEventListener("click", function (evt) {
        var action = evt.target.getAttribute && evt.target.getAttribute("data-action");
        var current = document.querySelector("form[data-save-bar]");
        if (!current || !action) return;
        if (action === "save") current.requestSubmit();
        else current.reset();
      });
    });
  }

  function updateSaveBar(form) {
    if (hasAppBridgeUi || !form) return;
    var dirty = form.__posaiSaved !== undefined && formState(form) !== form.__posaiSaved;
    saveBar().hidden = !(dirty || form.hasAttribute("data-has-errors"));
  }

  function watchSaveBarForm(root) {
    var form = root && root.querySelector ? root.querySelector("form[data-save-bar]") : null;
    if (!form) return;
    // A refused save (422) shows the typed values: the saved ones stay the reference.
    if (form.hasAttribute("data-has-errors") && saved !== null) form.__posaiSaved = saved;
    else form.__posaiSaved = saved = formState(form);
    updateSaveBar(form);
  }

  document.addEventListener("input", function (evt) {
    updateSaveBar(evt.target.closest && evt.target.closest("form[data-save-bar]"));
  });
  document.addEventListener("change", function (evt) {
    updateSaveBar(evt.target.closest && evt.target.closest("form[data-save-bar]"));
  });
  // Discard (App Bridge's or ours) resets the form. After a refused save its defaults are the
  // typed values, so the saved settings are fetched again instead.
  document.addEventListener("reset", function (evt) {
    var form = evt.target;
    if (!form.matches || !form.matches("form[data-save-bar]")) return;
    if (form.hasAttribute("data-has-errors") && form.getAttribute("data-reload-url")) {
      evt.preventDefault();
      window.htmx.ajax("get", form.getAttribute("data-reload-url"), {
        source: form, target: "#" + form.parentElement.id, swap: "innerHTML",
      });
      return;
    }
    setTimeout(function () { updateSaveBar(form); }, 0);
  });

  document.addEventListener("htmx:afterSwap", function (evt) {
    var target = evt.detail.target;
    toastSwapped(target);
    watchSaveBarForm(target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    watchSaveBarForm(document);
  });

  // Downloads (the Impact CSV) need the session token too: fetch with it, then save the file.
  document.addEventListener("click", function (evt) {
    var link = evt.target && evt.target.closest ? evt.target.closest("a[data-download]") : null;
    if (!link) return;
    evt.preventDefault();
    sessionToken(false)
      .then(function (token) {
        return fetch(link.href, { headers: { Authorization: "Bearer " + token } });
      })
      .then(function (response) {
        if (!response.ok) throw new Error("The download failed (" + response.status + ")");
        var name = (/filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "") || [])[1];
        return response.blob().then(function (blob) {
          var url = URL.createObjectURL(blob);
          var a = document.createElement("a");
          a.href = url;
          a.download = name || "posai.csv";
          document.body.appendChild(a);
          a.click();
          a.remove();
          setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
        });
      })
      .catch(function (err) {
        showError(null, err.message);
      });
  });
})();
