"""A headless Chromium for the browser tests: Debian's ``chromium`` (installed by
``make test`` when missing), driven by Playwright for Python. Playwright cannot download
its own browsers here, so it is pointed at the system one."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.env import REPO_ROOT, server_unavailable

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """Where ``chromium`` is; skips the test without it (a failure under CI=true)."""
    found = shutil.which("chromium")
    if found is None:
        server_unavailable("no `chromium` on PATH (apt-get install -y chromium)")
    assert found is not None
    return found


@contextmanager
def headless_chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


SCREENSHOT_DIR = REPO_ROOT / "tests" / "output" / "dashboard"
"""Where the dashboard's browser tests leave their screenshots and timings (git-ignored)."""


def save_screenshot(page: Page, name: str) -> Path:
    """A full-page PNG of ``page`` as ``SCREENSHOT_DIR/<name>.png``."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


FIRST_LOAD_JS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  const assets = resources.filter((r) => !r.name.includes("/v1/"));
  const calls = resources.filter((r) => r.name.includes("/v1/"));
  const sum = (list, key) => list.reduce((n, r) => n + (r[key] || 0), 0);
  return {
    page_bytes: nav.transferSize + sum(assets, "transferSize"),
    page_decoded_bytes: nav.decodedBodySize + sum(assets, "decodedBodySize"),
    api_bytes: sum(calls, "transferSize"),
    requests: 1 + resources.length,
  };
}"""


def first_load(page: Page, *, ready: str = "document.body.dataset.loaded") -> dict[str, float]:
    """How a page just opened loaded: the milliseconds from navigation until ``ready`` (a
    JavaScript expression) is truthy, and the bytes of the page and its assets (HTML,
    scripts, styles, as transferred) and of its API answers."""
    loaded_ms = page.wait_for_function(f"() => ({ready}) && performance.now()").json_value()
    return {"loaded_ms": round(float(loaded_ms), 1), **page.evaluate(FIRST_LOAD_JS)}


def record_first_load(name: str, figures: dict[str, float]) -> None:
    """Add ``figures`` under ``name`` to ``SCREENSHOT_DIR/first_load.json``."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / "first_load.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    known[name] = figures
    path.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n")
