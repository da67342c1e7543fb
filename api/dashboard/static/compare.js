// The compare page: several runs overlaid, x as iteration, epoch or examples seen, each
// run in its optimizer's colour and dash pattern (a shade per run of the same optimizer,
// as core.figure_style draws them), min/max bands, smoothing, and the summary with the
// best run of each metric. Runs that are still going are re-read every 2 s.

import {
  TERMINAL, api, el, ema, fill, fmt, fmtMetric, notice, optimizerLabel, optimizerLine, pace,
  page, showLiveMode, smoothable, start, statusBadge,
} from "./common.js";
import { CurveChart } from "./chart.js";

const BUCKETS = 800;
const REFRESH_MS = 2000;
const $ = (name) => document.getElementById(name);
const query = new URLSearchParams(window.location.search);
const ids = (query.get("ids") || "").split(",").map((s) => s.trim()).filter(Boolean);

let runs = []; // {id, run, pace, line, curves: {metric: buckets}}
let axis = query.get("x") || "iteration";
let metric = query.get("metric") || "test_acc";
let smoothing = Number(query.get("smoothing") ?? 0.6);
const charts = {};

function writeQuery() {
  const next = new URLSearchParams({ ids: ids.join(","), x: axis, metric, smoothing: String(smoothing) });
  window.history.replaceState(null, "", `/compare?${next}`);
}

function chartFor(key, title, logY, markers) {
  if (!charts[key]) {
    const entry = { zoom: null };
    entry.chart = new CurveChart($("charts"), {
      id: `chart-${key}`, title, xLabel: axisLabel(), logY, wide: true, markers,
      onZoom: (zoom) => { entry.zoom = zoom; load(key); },
    });
    charts[key] = entry;
  }
  return charts[key];
}

function axisLabel() {
  return axis === "examples" ? "examples seen" : axis;
}

function metricsShown() {
  return ["batch_loss", metric].filter((m, i, all) => all.indexOf(m) === i);
}

async function load(only = null) {
  await Promise.all(runs.map(async (entry) => {
    for (const name of metricsShown()) {
      if (only && only !== name) continue;
      const zoom = charts[name]?.zoom;
      const params = new URLSearchParams({ name, buckets: String(BUCKETS) });
      if (zoom) {
        params.set("step_min", String(Math.max(0, entry.pace.stepAt(zoom.min, axis) - 1)));
        params.set("step_max", String(entry.pace.stepAt(zoom.max, axis) + 1));
      }
      const read = await api(`/v1/experiments/${entry.id}/metrics/buckets?${params}`);
      entry.curves[name] = read.curves[name] || null;
    }
  }));
  draw();
}

function draw() {
  let points = 0;
  for (const name of metricsShown()) {
    const info = page.config.metrics[name];
    const entry = chartFor(name, info.label[0].toUpperCase() + info.label.slice(1), info.log_y, info.per === "epoch");
    const list = [];
    for (const run of runs) {
      const read = run.curves[name];
      if (!read || !read.step_last.length) continue;
      points += read.total_points;
      const x = read.step_last.map((step) => run.pace.xAt(step, axis));
      const banded = read.count.some((c) => c > 1);
      const band = banded ? { lo: read.min, hi: read.max } : {};
      const label = `${run.run.name} (${run.id.slice(0, 8)})`;
      if (smoothing > 0 && smoothable(name)) {
        list.push({ key: `${run.id}-raw`, label: `${label} raw`, ...run.line, width: 0.93, alpha: 0.25, x, y: read.mean, ...band, hideInLegend: true, count: read.total_points });
        list.push({ key: `${run.id}-ema`, label, ...run.line, x, y: ema(read.mean, smoothing), count: 0 });
      } else {
        list.push({ key: run.id, label, ...run.line, x, y: read.mean, ...band, count: read.total_points });
      }
    }
    entry.chart.setCurves(list);
  }
  $("charts").dataset.points = String(points);
}

function summary(comparison) {
  const best = comparison.best || {};
  const cell = (run, name) => {
    const value = run.final_metrics?.[name];
    const isBest = best[name] === run.id;
    return el("td", { class: `num${isBest ? " cell-ok" : ""}`, title: isBest ? "best of these runs" : null }, fmtMetric(name, value), isBest ? " ★" : "");
  };
  fill(document.querySelector("#summary tbody"), comparison.experiments.map((run) => {
    const entry = runs.find((r) => r.id === run.id);
    const swatch = el("span", { style: `display:inline-block;width:22px;height:0;border-top:3px ${entry.line.dash.length ? "dashed" : "solid"} ${entry.line.color}` });
    return el("tr", { "data-id": run.id },
      el("td", {}, swatch),
      el("td", {}, el("a", { href: `/runs/${run.id}` }, run.name), " ", el("span", { class: "muted mono" }, run.id.slice(0, 8))),
      el("td", {}, statusBadge(run.status)),
      el("td", {}, optimizerLabel(run.optimizer)),
      el("td", { class: "num" }, fmt(run.lr, 3)),
      cell(run, "test_acc"), cell(run, "test_loss"), cell(run, "train_loss"));
  }));
}

async function main() {
  const { config } = await start("compare");
  $("metric").append(...Object.entries(config.metrics)
    .filter(([name, info]) => info.per === "epoch" && info.panel)
    .map(([name, info]) => el("option", { value: name, selected: name === metric }, info.label)));
  $("x-axis").value = axis;
  $("smoothing").value = String(smoothing);
  $("smoothing-value").textContent = String(smoothing);
  if (!ids.length) {
    notice($("notice"), "No runs chosen: select some on the Runs page and press “Compare selected”.", "info");
    document.body.dataset.loaded = "true";
    return;
  }
  let comparison;
  try {
    comparison = await api(`/v1/compare?ids=${ids.join(",")}`);
  } catch (failure) {
    notice($("notice"), failure.message);
    document.body.dataset.loaded = "missing";
    return;
  }
  const variants = {};
  runs = await Promise.all(comparison.experiments.map(async (summaryRow) => {
    const run = await api(`/v1/experiments/${summaryRow.id}`);
    const optimizer = run.spec.optimizer.name;
    const variant = variants[optimizer] = (variants[optimizer] ?? -1) + 1;
    return { id: run.id, run, pace: pace(run.spec), line: optimizerLine(optimizer, variant), curves: {} };
  }));
  $("count").textContent = String(runs.length);
  summary(comparison);
  const rebuild = () => {
    for (const key of Object.keys(charts)) { charts[key].chart.root.remove(); delete charts[key]; }
    writeQuery();
    load();
  };
  $("x-axis").addEventListener("change", (event) => { axis = event.target.value; rebuild(); });
  $("metric").addEventListener("change", (event) => { metric = event.target.value; rebuild(); });
  $("smoothing").addEventListener("input", (event) => {
    smoothing = Number(event.target.value);
    $("smoothing-value").textContent = String(smoothing);
    writeQuery();
    draw();
  });
  await load();
  document.body.dataset.loaded = "true";
  const tick = async () => {
    if (runs.every((entry) => TERMINAL.has(entry.run.status))) { showLiveMode("none"); return; }
    showLiveMode("polling");
    try {
      const fresh = await api(`/v1/compare?ids=${ids.join(",")}`);
      for (const row of fresh.experiments) {
        const entry = runs.find((r) => r.id === row.id);
        if (entry) entry.run = { ...entry.run, status: row.status };
      }
      summary(fresh);
      await load();
    } catch (failure) { console.warn(failure); }
    setTimeout(tick, REFRESH_MS);
  };
  setTimeout(tick, REFRESH_MS);
}

main();
