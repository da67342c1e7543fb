"""The dashboard's pages and assets as the app serves them, in this process (no store, no
browser): every page is HTML with a strict Content-Security-Policy and loads only assets
the package ships (package data covers each file); /dashboard/config.json holds the
server's own tables (metrics, the figures' colours and dash patterns, Table 1). The pages
in a real browser: tests/api/test_dashboard.py."""

from __future__ import annotations

import fnmatch
import re
import tomllib

import pytest

from api.dashboard.style import NAMED_DASHES, dash_px
from api.routes.dashboard import STATIC_DIR
from core.figure_style import OPTIMIZER_LINES
from core.metrics import METRICS
from core.table1 import PUBLISHED
from tests.support.asgi import request_in_process
from tests.support.env import REPO_ROOT

PAGES = ["/", "/runs/some-id", "/compare?ids=a,b", "/sweeps/some-id", "/table1"]


@pytest.mark.parametrize("path", PAGES)
def test_each_page_is_html_with_a_strict_policy_and_only_shipped_assets(path: str) -> None:
    page = request_in_process("GET", path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assets = re.findall(r'(?:src|href)="(/dashboard/static/[^"]+)"', page.text)
    assert any(asset.endswith(".js") for asset in assets)
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', page.text)  # no CDN
    for asset in assets:
        answer = request_in_process("GET", asset)
        assert answer.status_code == 200, asset
    scripts = [a for a in assets if a.endswith(".js") and "vendor" not in a]
    for script in scripts:  # and the modules those import
        source = request_in_process("GET", script).text
        for imported in re.findall(r'from "\./([^"]+)"', source):
            assert request_in_process("GET", f"/dashboard/static/{imported}").status_code == 200


def test_package_data_ships_every_dashboard_file() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["api"]
    files = [p.relative_to(STATIC_DIR.parent.parent) for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert len(files) >= 10
    unshipped = [f for f in files if not any(fnmatch.fnmatch(str(f), p) for p in patterns)]
    assert unshipped == []
    assert (STATIC_DIR / "vendor" / "uPlot.LICENSE").read_text().startswith("The MIT License")


def test_config_holds_the_servers_tables() -> None:
    config = request_in_process("GET", "/dashboard/config.json").json()
    assert list(config["metrics"]) == list(METRICS)
    assert {name: o["color"] for name, o in config["optimizers"].items()} == {
        name: color for name, (color, _dashes) in OPTIMIZER_LINES.items()
    }
    assert config["optimizers"]["adam"]["dash"] == []  # solid
    assert config["table1"]["published"] == {k: list(v) for k, v in PUBLISHED.items()}
    assert config["train_sizes"]["mnist"] == 60_000


def test_dash_patterns_are_matplotlibs_scaled_to_the_line_width() -> None:
    import matplotlib

    for name, key in (("--", "dashed"), ("-.", "dashdot"), (":", "dotted")):
        assert NAMED_DASHES[name] == tuple(matplotlib.rcParams[f"lines.{key}_pattern"])
    assert dash_px("--") == [round(v * 1.6 * 96 / 72, 2) for v in NAMED_DASHES["--"]]
    assert dash_px((0, (9, 3))) == [19.2, 6.4]
