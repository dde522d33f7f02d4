"""docs/screenshots/admin-impact.png: the admin page's Impact section on the demo shop after
`posai demo` replayed its simulated POS day, taken with the browser test's Chromium and settings.

Run by hand (once, like admin-online-retail.png), on the database `posai demo` prepared:

    DATABASE_URL=sqlite:///instance/posai.db .venv/bin/python -m tests.admin.screenshot_impact

It serves that database in demo mode on a loopback port (werkzeug, a thread), opens /app in
headless Chromium, waits for the Impact figures and the lift, and saves the section.
"""

from __future__ import annotations

import os
import sys
import threading

from tests.admin.test_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS

TARGET = SCREENSHOTS / "admin-impact.png"


def main() -> None:
    from playwright.sync_api import expect, sync_playwright
    from werkzeug.serving import make_server

    from posai_app import create_app

    if not os.path.exists(CHROMIUM):
        sys.exit(f"{CHROMIUM} not found (apt-get install chromium)")
    app = create_app({"POSAI_DEMO": True})
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"http://127.0.0.1:{httpd.server_port}/app")
            page.locator("#impact-card").get_by_role("button", name="Last 7 days").click()
            expect(page.locator("#impact-simulated")).to_be_visible(timeout=60_000)
            expect(page.locator("#impact-lift")).to_contain_text("Lift", timeout=120_000)
            expect(page.locator("#impact-chart")).to_be_visible()
            page.locator("#impact-card").screenshot(path=str(TARGET))
            browser.close()
    finally:
        httpd.shutdown()
        thread.join(timeout=5)
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
