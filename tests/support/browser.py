"""A headless Chromium for the browser tests: Debian's ``chromium`` (installed by
``make test`` when missing), driven by Playwright for Python. Playwright cannot download
its own browsers here, so it is pointed at the system one."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, sync_playwright

from tests.support.env import server_unavailable

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
