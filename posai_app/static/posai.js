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
