"""Screenshot of the POS modal rendered in a test harness: docs/screenshots/pos-modal.png.

1. `npx vitest run --config vitest.harness.config.ts` renders the real ModalApp (Preact, happy-dom,
   the tests' fake `shopify` global and a fetch answering like POST /api/recommendations) and
   writes its markup to harness/out/pos-modal.html.
2. This script wraps that markup with harness/pos.css (a stand-in for POS's native look) and
   photographs it with Debian's Chromium through Playwright for Python (never downloaded).

Run from the repository: `make screenshot-pos` (needs `npm ci` in extensions/pos-upsell).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXTENSION = Path(__file__).resolve().parents[1]
OUT = EXTENSION.parents[1] / "docs" / "screenshots" / "pos-modal.png"
CHROMIUM = "/usr/bin/chromium"


def main() -> int:
    harness = ["npx", "vitest", "run", "--config", "vitest.harness.config.ts"]
    subprocess.run(harness, cwd=EXTENSION, check=True)  # noqa: S603 (a fixed command line)
    markup = (EXTENSION / "harness" / "out" / "pos-modal.html").read_text()
    css = (EXTENSION / "harness" / "pos.css").read_text()
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<style>{css}</style></head><body>{markup}</body></html>"
    )

    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 720, "height": 400}, device_scale_factor=1)
        page.route("**/*", lambda route: route.abort())  # the harness page loads nothing
        page.set_content(html)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUT), full_page=True)
        browser.close()
    print(f"wrote {OUT.relative_to(EXTENSION.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
