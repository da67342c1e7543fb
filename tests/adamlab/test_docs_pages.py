"""`adamlab serve` on the embedded default, as `make serve` runs it: /docs (Swagger UI) and
/redoc render in a headless Chromium with every request off the service refused, so the
pages cannot lean on a CDN; a screenshot of each is taken and must not be blank."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import matplotlib.image
import numpy as np
import pytest
from playwright.sync_api import Page, Route

from tests.support.browser import headless_chromium
from tests.support.env import base_env
from tests.support.serve import adamlab_serve

pytestmark = [pytest.mark.service, pytest.mark.slow]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`adamlab serve` with nothing configured (SQLite and a private Redis); its base URL."""
    root = tmp_path_factory.mktemp("serve-docs")
    env = base_env(ADAMLAB_STATE_DIR=str(root / "state"), ADAMLAB_TORCH_THREADS="1")
    with adamlab_serve(env=env, log_path=root / "serve.log") as serve:
        yield serve.base_url


def open_offline(page: Page, base_url: str) -> list[str]:
    """Refuse every request that leaves the service; the list of refused URLs fills in."""
    refused: list[str] = []
    service_host = urlsplit(base_url).netloc

    def only_the_service(route: Route) -> None:
        if urlsplit(route.request.url).netloc == service_host:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_service)
    return refused


def non_background_fraction(png: bytes) -> float:
    """The share of pixels that differ from the screenshot's most common colour."""
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3]
    flat = (pixels.reshape(-1, 3) * 255).round().astype(np.int64)
    codes = flat[:, 0] * 65536 + flat[:, 1] * 256 + flat[:, 2]
    background = np.bincount(codes).argmax()
    return float(np.mean(codes != background))


def test_swagger_ui_renders_every_operation_offline(served: str, tmp_path: Path) -> None:
    operations = httpx.get(f"{served}/openapi.json", timeout=10).json()["paths"]
    operation_count = sum(
        method in {"get", "post", "put", "patch", "delete"}
        for path in operations.values()
        for method in path
    )
    with headless_chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        refused = open_offline(page, served)
        page.goto(f"{served}/docs", wait_until="networkidle")
        page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
        shown = page.locator(".swagger-ui .opblock").count()
        title = page.locator(".swagger-ui .info .title").inner_text()
        screenshot = page.screenshot(full_page=True)
    (tmp_path / "docs.png").write_bytes(screenshot)
    assert refused == []
    assert "adamlab" in title
    assert shown == operation_count
    assert non_background_fraction(screenshot) > 0.02


def test_redoc_renders_offline(served: str, tmp_path: Path) -> None:
    with headless_chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1200})
        refused = open_offline(page, served)
        page.goto(f"{served}/redoc", wait_until="networkidle")
        page.wait_for_selector("h1", timeout=30_000)
        heading = page.locator("h1").first.inner_text()
        screenshot = page.screenshot()
    (tmp_path / "redoc.png").write_bytes(screenshot)
    assert refused == []
    assert "adamlab" in heading
    assert non_background_fraction(screenshot) > 0.02
