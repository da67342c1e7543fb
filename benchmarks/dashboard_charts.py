"""How long a chart library takes to draw a 100,000-point curve with a min/max band in
headless Chromium: the dashboard's uPlot (api/dashboard/static/vendor) and, given its file,
plotly.js (``npm pack plotly.js-dist-min``, then ``--plotly package/plotly.min.js``), each
as SVG lines (``scatter``) and WebGL (``scattergl``; Chromium here runs without a GPU, so
WebGL falls back to software). The time runs from the call until two animation frames
later (the browser has painted). Prints JSON: per library, the median and the worst of
``--repeats`` draws, and the library's size.

    .venv/bin/python benchmarks/dashboard_charts.py --plotly /tmp/package/plotly.min.js
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

STATIC = Path(__file__).resolve().parents[1] / "api" / "dashboard" / "static" / "vendor"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run"]
POINTS = 100_000

DATA_JS = f"""
const n = {POINTS}, x = [], y = [], lo = [], hi = [];
for (let i = 0; i < n; i++) {{
  x.push(i + 1); y.push(Math.exp(-i / 3e4) + Math.sin(i) / 20);
  lo.push(y[i] - 0.05); hi.push(y[i] + 0.05);
}}
const painted = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
"""

UPLOT_JS = """async () => {
  const box = document.createElement('div'); document.body.append(box);
  const started = performance.now();
  const plot = new uPlot({ width: 1200, height: 320, scales: { x: { time: false } },
    series: [{}, { stroke: '#1f77b4' }, { stroke: 'transparent' }, { stroke: 'transparent' }],
    bands: [{ series: [2, 3], fill: 'rgba(31,119,180,.2)' }] }, [x, y, hi, lo], box);
  await painted();
  const ms = performance.now() - started;
  plot.destroy(); box.remove();
  return ms;
}"""

PLOTLY_JS = """async (kind) => {
  const box = document.createElement('div'); box.style.width = '1200px';
  box.style.height = '320px'; document.body.append(box);
  const started = performance.now();
  await Plotly.newPlot(box, [
    { x, y: hi, type: kind, mode: 'lines', line: { width: 0 } },
    { x, y: lo, type: kind, mode: 'lines', fill: 'tonexty', line: { width: 0 } },
    { x, y, type: kind, mode: 'lines', line: { color: '#1f77b4' } },
  ], { showlegend: false });
  await painted();
  const ms = performance.now() - started;
  Plotly.purge(box); box.remove();
  return ms;
}"""


def measure(page, script: str, arg: str | None, repeats: int) -> dict[str, float]:
    times = [page.evaluate(script, arg) for _ in range(repeats)]
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plotly", type=Path, help="plotly.min.js (plotly.js-dist-min)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("needs `chromium` on PATH")
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        libraries = {"uplot": STATIC / "uPlot.iife.min.js"}
        if args.plotly:
            libraries["plotly"] = args.plotly
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
        )
        for name, library in libraries.items():
            html = Path(folder) / f"{name}.html"
            shutil.copy(library, Path(folder) / library.name)
            html.write_text(
                f'<!doctype html><script src="{library.name}"></script><script>{DATA_JS}'
                "window.x = x; window.y = y; window.lo = lo; window.hi = hi;"
                "window.painted = painted;</script>"
            )
            page = browser.new_page()
            page.goto(html.as_uri())
            size = {"library_bytes": library.stat().st_size}
            if name == "uplot":
                results[name] = size | measure(page, UPLOT_JS, None, args.repeats)
            else:
                for kind in ("scatter", "scattergl"):
                    results[f"plotly-{kind}"] = size | measure(page, PLOTLY_JS, kind, args.repeats)
            page.close()
        browser.close()
    print(json.dumps({"points": POINTS, "band": True, **results}, indent=2))


if __name__ == "__main__":
    main()
