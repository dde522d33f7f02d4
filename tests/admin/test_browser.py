"""The admin page in a real browser: Debian's headless Chromium driven by Playwright, demo mode.

Serves the app (werkzeug, a thread, a random loopback port) on the test database with a small
hand-made demo shop, then: report and chart visible; settings driven through the save bar (a
change shows it, a bad value is refused inline, Discard restores the saved values, Save saves
and a toast confirms); pins searched, pinned, listed and unpinned; exclusions by product, vendor,
type and tag; a preview built, "Retrain now" clicked, progress seen, the new run shown. The CDN is
never fetched: outside Shopify posai.js's stand-ins for Polaris and App Bridge's save bar and
toast are what the test drives (the embedded test shims App Bridge's `shopify` global).
Screenshots go to docs/screenshots/. Never downloads a browser: without /usr/bin/chromium the
test skips, unless POSAI_REQUIRE_BROWSER=1 (CI), where it fails.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from posai_app.admin.demo import DEMO_SHOP_DOMAIN
from posai_app.extensions import db
from posai_app.models import EvaluationRun, Shop
from tests.admin import shopdata
from tests.conftest import _add_shop, redis_url

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _require_browser() -> None:
    if os.path.exists(CHROMIUM):
        return
    message = f"{CHROMIUM} not found (apt-get install chromium); no browser is ever downloaded"
    if os.environ.get("POSAI_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def demo_app(app, make_app):
    """A demo-mode app on the test database with a small demo shop, its history and two runs."""
    # As `make demo` runs without Redis: a retrain started from the page runs in a thread.
    demo = make_app(POSAI_DEMO=True, INLINE_JOBS_IN_BACKGROUND=True)
    shop = _add_shop(app, DEMO_SHOP_DOMAIN)
    with app.app_context():
        now = datetime.now(UTC)
        shopdata.add_catalog(shop.id)
        shopdata.add_orders(shop.id)
        shopdata.add_sync(shop.id, "products", status="done", processed_count=10, last_synced_at=now)
        shopdata.add_sync(
            shop.id,
            "orders",
            status="done",
            processed_count=41,
            total_count=41,
            last_synced_at=now,
            all_history=True,
        )
        shopdata.add_run(shop.id, started_at=now - timedelta(days=3), results=shopdata.report(scale=0.7))
        shopdata.add_run(shop.id, started_at=now - timedelta(days=1), results=shopdata.report(scale=0.9))
        shopdata.add_index(shop.id)
        db.session.commit()
    demo.config["_TEST_SHOP_ID"] = shop.id
    return demo


@pytest.fixture
def server(demo_app) -> Iterator[str]:
    from werkzeug.serving import make_server

    httpd = make_server("127.0.0.1", 0, demo_app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=5)
    httpd.server_close()


@pytest.fixture
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _latest_run_id(app, shop_id: int) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.max(EvaluationRun.id)).where(EvaluationRun.shop_id == shop_id)
        )


def _open(browser, server: str, width: int = 1280):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.posai_outside = []  # requests that left the app (there must be none: no CDN in demo mode)
    page.posai_errors = []
    page.posai_hx = []  # (url, Authorization) of every htmx request
    page.on(
        "request",
        lambda req: (
            page.posai_hx.append((req.url, req.headers.get("authorization")))
            if req.headers.get("hx-request")
            else None
        ),
    )
    page.on("request", lambda req: None if req.url.startswith(server) else page.posai_outside.append(req.url))
    page.on("pageerror", lambda exc: page.posai_errors.append(str(exc)))
    # Chromium logs every 4xx as "Failed to load resource"; the 422 of a refused setting is expected.
    page.on(
        "console",
        lambda msg: (
            page.posai_errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.goto(f"{server}/app")
    return page


def _hide_toasts(page) -> None:
    """A toast is fixed to the viewport: in a full-page or element shot it would float over it."""
    page.evaluate("document.querySelectorAll('.posai-toast').forEach((t) => { t.hidden = true; })")


def _screenshots(page, expect, name: str = "admin") -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    _hide_toasts(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("#hitrate-chart")).to_be_visible()
    # Nothing overflows sideways at phone width.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SCREENSHOTS / f"{name}-narrow.png"), full_page=True)


def _assert_clean(page) -> None:
    assert page.posai_hx, "no htmx request was made"
    assert all(auth and auth.startswith("Bearer ey") for _, auth in page.posai_hx), page.posai_hx
    assert page.posai_outside == [], f"requests left the app: {page.posai_outside}"
    assert page.posai_errors == []


def test_report_chart_and_settings_in_a_real_browser(app, demo_app, server, browser):
    from playwright.sync_api import expect

    shop_id = demo_app.config["_TEST_SHOP_ID"]
    # Tokens shorter-lived than posai.js's 20 s margin: every request refreshes via /app/demo-token.
    demo_app.config["POSAI_DEMO_TOKEN_TTL"] = 15
    page = _open(browser, server)
    refreshes = []
    page.on("request", lambda req: refreshes.append(req.url) if "/app/demo-token" in req.url else None)
    # The report and its chart are visible at a glance.
    expect(page.locator("#live-metric")).to_contain_text("cosine")
    expect(page.locator("#hitrate-chart")).to_be_visible()
    expect(page.locator("#trend-chart")).to_be_visible()
    expect(page.locator("#evaluation-table tr.row--chosen")).to_contain_text("cosine")
    expect(page.locator("#data-summary")).to_contain_text("41")
    expect(page.locator("#pairs-table")).to_contain_text("White metal lantern")

    # Settings: a change shows the save bar (posai.js's plain bar: no App Bridge outside
    # Shopify); a bad value is refused inline (422 swapped in) and Discard brings back what was
    # saved; a good value is saved and confirmed by a toast.
    save_bar = page.get_by_role("region", name="Unsaved changes")
    limit = page.get_by_label("Number of recommendations")
    expect(limit).to_have_value("2")
    expect(save_bar).to_be_hidden()
    limit.fill("42")
    expect(save_bar).to_be_visible()
    page.locator("#settings-card").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "admin-save-bar.png"))  # the viewport, bar on top
    save_bar.get_by_role("button", name="Save").click()
    expect(page.locator("#settings-form .error")).to_contain_text("between 1 and 10")
    expect(limit).to_have_attribute("aria-invalid", "true")
    expect(save_bar).to_be_visible()  # still unsaved
    save_bar.get_by_role("button", name="Discard").click()
    expect(page.locator("#settings-form .error")).to_have_count(0)
    expect(page.get_by_label("Number of recommendations")).to_have_value("2")
    expect(save_bar).to_be_hidden()
    fallback = page.get_by_label("Fill with bestsellers")
    fallback.uncheck()
    expect(save_bar).to_be_visible()
    fallback.check()  # back to what was saved: nothing to save
    expect(save_bar).to_be_hidden()
    page.get_by_label("Number of recommendations").fill("3")
    save_bar.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Settings saved.")).to_be_visible()
    expect(save_bar).to_be_hidden()
    with app.app_context():
        assert db.session.get(Shop, shop_id).settings["recommendation_limit"] == 3
        db.session.remove()

    # Exclude a product through search; it shows up as a row with its own Remove button.
    page.get_by_label("Find a product to exclude").fill("doily")
    page.get_by_role("button", name="Exclude Vintage doily tray").click()
    expect(page.locator("#excluded-list")).to_contain_text("Vintage doily tray")

    assert refreshes, "the demo token was never refreshed"
    _screenshots(page, expect)
    _assert_clean(page)
    page.close()


def test_pins_and_exclusions_by_value_in_a_real_browser(app, demo_app, server, browser):
    from playwright.sync_api import expect

    from posai_app.models import ProductPin, ProductVariant

    shop_id = demo_app.config["_TEST_SHOP_ID"]
    with app.app_context():  # facets for the exclusion pickers
        for variant in db.session.scalars(sa.select(ProductVariant).where(ProductVariant.product_id == 205)):
            variant.vendor, variant.product_type, variant.tags = "Regency Ltd", "Kitchen", "baking, clearance"
        db.session.commit()
    page = _open(browser, server)
    pins = page.locator("#pins-card")
    expect(pins.locator("#pins-empty")).to_have_text("No pairings yet.")

    # Pin: find the product in the cart, then the one to suggest first with it.
    pins.get_by_label("Find a product to pair").fill("heart")
    pins.get_by_role("button", name="Pair products with White hanging heart T-light holder").click()
    target = pins.get_by_label("Suggest first with White hanging heart T-light holder (up to 5)")
    # This field arrived in an htmx swap: type as a person does, so that the search fires even if
    # the first keystroke lands before htmx has bound the swapped field's trigger (seen under load).
    target.press_sequentially("lantern", delay=60)
    pins.get_by_role("button", name="Suggest White metal lantern first").click()
    expect(page.get_by_role("status").filter(has_text="Pairing saved")).to_be_visible()
    row = pins.locator("#pin-list s-table-row")
    expect(row).to_have_count(1)
    expect(row.locator("s-table-cell").nth(0)).to_have_text("White hanging heart T-light holder")
    expect(row.locator("s-table-cell").nth(1)).to_contain_text("White metal lantern")
    with app.app_context():
        pinned = db.session.scalars(sa.select(ProductPin).where(ProductPin.shop_id == shop_id)).all()
        assert [(p.product_id, p.pinned_product_id) for p in pinned] == [(201, 202)]
        db.session.remove()
    _hide_toasts(page)
    pins.screenshot(path=str(SCREENSHOTS / "admin-pins.png"))
    # Keyboard: the Unpin button is focusable and Enter presses it.
    unpin = pins.get_by_role(
        "button", name="Stop pairing White metal lantern with White hanging heart T-light holder"
    )
    unpin.focus()
    page.keyboard.press("Enter")
    expect(pins.locator("#pins-empty")).to_have_text("No pairings yet.")

    # Exclusions by vendor, product type and tag: picked from the catalog's values.
    settings = page.locator("#settings-card")
    for field, value in (("vendor", "Regency Ltd"), ("product_type", "Kitchen"), ("tag", "clearance")):
        settings.get_by_label("Exclude every product with this").select_option(field)
        settings.get_by_label("Value", exact=True).fill(value)
        settings.get_by_role("button", name="Exclude", exact=True).click()
        expect(settings.locator(f'#excluded-list s-table-row[data-kind="{field}"]')).to_contain_text(value)
    expect(settings.locator("#excluded-list s-table-row")).to_have_count(3)
    _hide_toasts(page)
    settings.screenshot(path=str(SCREENSHOTS / "admin-exclusions.png"))
    with app.app_context():
        stored = db.session.get(Shop, shop_id).settings
        assert stored["excluded_vendors"] == ["Regency Ltd"]
        assert stored["excluded_product_types"] == ["Kitchen"]
        assert stored["excluded_tags"] == ["clearance"]
        db.session.remove()
    # An empty value is refused by the field itself before any request.
    settings.get_by_label("Value", exact=True).fill("")
    settings.get_by_role("button", name="Exclude", exact=True).click()
    expect(settings.locator("#excluded-list s-table-row")).to_have_count(3)
    settings.get_by_role("button", name="Stop excluding vendor Regency Ltd").click()
    expect(settings.locator("#excluded-list s-table-row")).to_have_count(2)
    with app.app_context():
        assert db.session.get(Shop, shop_id).settings["excluded_vendors"] == []
        db.session.remove()
    _assert_clean(page)
    page.close()


def test_preview_and_retrain_in_a_real_browser(app, demo_app, server, browser, run_jobs, monkeypatch):
    from playwright.sync_api import expect

    shop_id = demo_app.config["_TEST_SHOP_ID"]
    with app.app_context():  # three suggestions: the sold-out neighbour is then reached and skipped
        db.session.get(Shop, shop_id).settings = {"recommendation_limit": 3}
        db.session.commit()
    page = _open(browser, server)
    expect(page.locator("#hitrate-chart")).to_be_visible()

    # Preview: search, add to the cart, see what the POS gets and why others were skipped.
    page.locator("#preview-search").fill("heart")
    page.get_by_role("button", name="Add White hanging heart T-light holder to the preview cart").click()
    expect(page.locator("#preview-results li").first).to_be_visible()
    page.locator("#preview-explain").check()
    expect(page.locator("#preview-skipped")).to_contain_text("Out of stock")

    # Retrain: progress first, then the new run in the report. The job is held back a moment
    # (a few dozen orders train in milliseconds) so the progress state is reliably on screen.
    from posai_app.training import jobs as training_jobs

    real_train = training_jobs.train_shop

    def slow_train(*args, **kwargs):
        time.sleep(1.5)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(training_jobs, "train_shop", slow_train)
    polls = []
    page.on("request", lambda req: polls.append(req.url) if "/app/status?active=1" in req.url else None)
    before = _latest_run_id(app, shop_id)
    page.get_by_role("button", name="Retrain now").click()
    if redis_url() is not None:  # RQ: queued until a worker (here: this test) takes the job
        expect(page.locator("#training-status")).to_contain_text("Queued: waiting for a worker")
        expect(page.locator("#retrain-button")).to_be_disabled()
        run_jobs()
    else:  # in-process: a thread of the web process trains while the page polls
        expect(page.locator("#retrain-button")).to_have_text("Training…")
        expect(page.locator("#retrain-button")).to_be_disabled()
    expect(page.locator("#eval-caption")).to_contain_text(f"run #{before + 1}", timeout=30_000)
    expect(page.locator("#training-status")).to_contain_text(f"Run #{before + 1} finished")
    expect(page.locator("#trend-chart circle.chart-point")).to_have_count(3)
    expect(page.locator("#retrain-button")).to_have_text("Retrain now")
    assert polls, "the status card never polled for progress"

    # admin.png (README) comes from the first test's realistic figures; a few dozen toy orders
    # make every real scorer look perfect, so this state gets its own file.
    _screenshots(page, expect, "admin-after-retrain")
    _assert_clean(page)
    page.close()


def test_htmx_requests_carry_app_bridge_session_tokens(app, make_app, shop, browser):
    """Embedded (not demo): posai.js awaits shopify.idToken() for every htmx XHR."""
    from playwright.sync_api import expect
    from werkzeug.serving import make_server

    from tests.helpers import make_session_token

    embedded = make_app()
    httpd = make_server("127.0.0.1", 0, embedded, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    try:
        page = browser.new_page()
        minted = []

        def mint() -> str:
            # The first token App Bridge hands out is refused (as an expired one would be):
            # posai.js must see the 401 + retry header, get a new token and retry once.
            secret = "stale-secret-" + "x" * 40 if not minted else None
            minted.append(make_session_token(embedded.config, shop.domain, secret=secret))
            return minted[-1]

        # A stand-in for App Bridge's CDN script (the route answers it; nothing leaves the machine):
        # session tokens and toasts, no save bar (posai.js then shows its own). polaris.js is
        # refused, as an unreachable CDN would: the page falls back to native controls.
        page.expose_function("posaiTestMintToken", mint)
        page.route(
            "https://cdn.shopify.com/shopifycloud/app-bridge.js",
            lambda route: route.fulfill(
                content_type="text/javascript",
                body=(
                    "window.posaiToasts = [];"
                    "window.shopify = {idToken: function () { return window.posaiTestMintToken(); },"
                    " toast: {show: function (m) { window.posaiToasts.push(m); }}};"
                ),
            ),
        )
        page.route("https://cdn.shopify.com/shopifycloud/polaris.js", lambda route: route.abort())
        sent = []
        page.on(
            "request",
            lambda req: (
                sent.append((req.url, req.headers.get("authorization")))
                if req.headers.get("hx-request")
                else None
            ),
        )
        statuses = []
        page.on("response", lambda resp: statuses.append(resp.status) if "/app/" in resp.url else None)
        page.goto(
            f"{base}/app?shop={shop.domain}&id_token={make_session_token(embedded.config, shop.domain)}"
        )
        page.get_by_label("Number of recommendations").fill("5")
        page.get_by_role("region", name="Unsaved changes").get_by_role("button", name="Save").click()
        page.wait_for_function("window.posaiToasts.length > 0")
        assert page.evaluate("window.posaiToasts") == ["Settings saved."]  # App Bridge's toast
        expect(page.locator("#posai-toast")).to_have_count(0)
        assert sent, "no htmx request was sent"
        assert statuses[0] == 401 and 200 in statuses, statuses  # refused once, retried with a new token
        expect(page.locator("#app-errors")).to_be_empty()
        for url, authorization in sent:
            assert authorization is not None and authorization.removeprefix("Bearer ") in minted, url
        with app.app_context():
            assert db.session.get(Shop, shop.id).settings["recommendation_limit"] == 5
            db.session.remove()
        page.close()
    finally:
        httpd.shutdown()
        thread.join(timeout=5)
        httpd.server_close()
