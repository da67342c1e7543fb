// The run page: one experiment's live curves (min/max buckets from
// /metrics/buckets, finer buckets of a zoomed range asked again; new points appended as
// they arrive), its status and progress, spec, reproducibility record, log, downloads,
// cancel and delete. Live by server-sent events, or by polling the JSON routes where the
// server has no events route.

import {
  TERMINAL, api, el, ema, fill, fmt, fmtDuration, fmtMetric, fmtTime, follow, notice,
  optimizerLabel, optimizerLine, page, progressBar, saveText, smoothable, start, statusBadge,
} from "./common.js";
import { CurveChart } from "./chart.js";

const id = decodeURIComponent(window.location.pathname.split("/")[2] || "");
const BUCKETS = 1000;
const REBUCKET_AT = 3 * BUCKETS;
const $ = (name) => document.getElementById(name);

let run = null;
let smoothing = 0.6;
const curves = {}; // metric name -> {steps, epochs, mean, min, max, count, total}
const charts = {}; // panel -> {chart, names, zoom}
let drawQueued = false;

function emptyCurve() {
  return { steps: [], epochs: [], mean: [], min: [], max: [], count: [], total: 0 };
}

function fromBuckets(read) {
  return {
    steps: read.step_last, epochs: read.epoch, mean: read.mean, min: read.min, max: read.max,
    count: read.count, total: read.total_points,
  };
}

function lastStep(name) {
  const steps = curves[name]?.steps;
  return steps && steps.length ? steps[steps.length - 1] : 0;
}

/** Append points [{name, step, value, epoch}] that are newer than what each curve holds. */
function appendPoints(points) {
  let added = 0;
  for (const point of points) {
    const curve = curves[point.name] || (curves[point.name] = emptyCurve());
    if (point.step <= lastStep(point.name)) continue;
    curve.steps.push(point.step);
    curve.epochs.push(point.epoch);
    curve.mean.push(point.value);
    curve.min.push(point.value);
    curve.max.push(point.value);
    curve.count.push(1);
    curve.total += 1;
    added += 1;
  }
  if (added) queueDraw();
  return added;
}

function panelsOf(spec) {
  const { panels, metrics } = page.config;
  const present = new Set(Object.keys(curves).map((name) => metrics[name]?.panel).filter(Boolean));
  const expected = spec.dataset.name === "linear" ? ["batch_loss", "lr", "loss", "line"] : ["batch_loss", "lr", "loss", "accuracy"];
  return Object.keys(panels).filter((panel) => expected.includes(panel) || present.has(panel));
}

function ensureCharts() {
  for (const panel of panelsOf(run.spec)) {
    if (charts[panel]) continue;
    const info = page.config.panels[panel];
    const perIteration = info.xlabel === "iteration";
    const entry = { names: Object.keys(page.config.metrics).filter((n) => page.config.metrics[n].panel === panel), zoom: null };
    entry.chart = new CurveChart($("charts"), {
      id: `chart-${panel}`, title: info.title, xLabel: info.xlabel, logY: info.log_y, markers: !perIteration,
      onZoom: perIteration ? (zoom) => { entry.zoom = zoom; loadBuckets(panel); } : null,
    });
    charts[panel] = entry;
  }
}

function queueDraw() {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(() => { drawQueued = false; draw(); });
}

function chartCurves(panel) {
  const entry = charts[panel];
  const byEpoch = page.config.panels[panel].xlabel === "epoch";
  const optimizer = run.spec.optimizer.name;
  const out = [];
  entry.names.filter((name) => curves[name]?.steps.length).forEach((name, variant) => {
    const curve = curves[name];
    const line = optimizerLine(optimizer, variant);
    const label = page.config.metrics[name].curve_label;
    const x = byEpoch ? curve.epochs : curve.steps;
    const banded = curve.count.some((c) => c > 1);
    const band = banded ? { lo: curve.min, hi: curve.max } : {};
    if (smoothing > 0 && smoothable(name)) {
      out.push({ key: `${name}-raw`, label: `${label} (raw)`, ...line, width: 0.93, alpha: 0.25, x, y: curve.mean, ...band, hideInLegend: true, count: curve.total });
      out.push({ key: `${name}-ema`, label: `${label} (EMA ${smoothing})`, ...line, x, y: ema(curve.mean, smoothing), count: 0 });
    } else {
      out.push({ key: name, label, ...line, x, y: curve.mean, ...band, count: curve.total });
    }
  });
  return out;
}

function draw() {
  ensureCharts();
  let points = 0;
  for (const [panel, entry] of Object.entries(charts)) {
    const list = chartCurves(panel);
    const total = entry.names.reduce((n, name) => n + (curves[name]?.total || 0), 0);
    points += total;
    entry.chart.setCurves(list, { points: total });
  }
  $("charts").dataset.points = String(points);
}

let bucketTimers = {};

/** Read the buckets of a panel (its zoomed range, or all), or of every metric (panel null). */
async function loadBuckets(panel = null) {
  const query = new URLSearchParams({ buckets: String(BUCKETS) });
  const zoom = panel ? charts[panel].zoom : null;
  if (panel) for (const name of charts[panel].names) query.append("name", name);
  if (zoom) {
    query.set("step_min", String(Math.max(0, Math.floor(zoom.min))));
    query.set("step_max", String(Math.max(0, Math.ceil(zoom.max))));
  }
  return takeBuckets(await api(`/v1/experiments/${id}/metrics/buckets?${query}`), zoom);
}

/** Draw buckets read for the range `zoom` (null: the whole run); the answer is returned (a
 * read of every metric holds `events_from`, where the events stream starts). */
function takeBuckets(read, zoom) {
  for (const [name, buckets] of Object.entries(read.curves)) {
    if (zoom) {
      // A zoomed range replaces the curve's buckets inside it; outside it they stay.
      const whole = curves[name] || emptyCurve();
      const keep = (from, to) => ({
        steps: whole.steps.slice(from, to), epochs: whole.epochs.slice(from, to), mean: whole.mean.slice(from, to),
        min: whole.min.slice(from, to), max: whole.max.slice(from, to), count: whole.count.slice(from, to),
      });
      const before = keep(0, whole.steps.findIndex((s) => s >= zoom.min) === -1 ? whole.steps.length : whole.steps.findIndex((s) => s >= zoom.min));
      const afterIndex = whole.steps.findIndex((s) => s > zoom.max);
      const after = afterIndex === -1 ? keep(0, 0) : keep(afterIndex);
      const inside = fromBuckets(buckets);
      const merged = { total: whole.total };
      for (const key of ["steps", "epochs", "mean", "min", "max", "count"]) merged[key] = [...before[key], ...inside[key], ...after[key]];
      curves[name] = merged;
    } else {
      curves[name] = fromBuckets(buckets);
    }
  }
  queueDraw();
  return read;
}

function scheduleRebucket() {
  for (const [panel, entry] of Object.entries(charts)) {
    if (entry.zoom || bucketTimers[panel]) continue;
    if (entry.names.some((name) => (curves[name]?.steps.length || 0) > REBUCKET_AT)) {
      bucketTimers[panel] = setTimeout(async () => { await loadBuckets(panel); bucketTimers[panel] = null; }, 500);
    }
  }
}

// --- the run's facts ------------------------------------------------------------------------

function fact(label, value, attrs = {}) {
  return el("div", {}, el("dt", {}, label), el("dd", { title: String(value ?? ""), ...attrs }, value ?? "—"));
}

function showRun(next) {
  run = next;
  document.title = `${run.name} · adamlab`;
  $("name").textContent = run.name;
  $("run-id").textContent = run.id.slice(0, 8);
  fill($("status"), statusBadge(run.status));
  document.body.dataset.status = run.status;
  fill($("progress"), progressBar(run.progress, run.status));
  const spec = run.spec;
  const finals = run.final_metrics || {};
  fill($("facts"),
    fact("Dataset", spec.dataset.name),
    fact("Model", `${spec.model.name}${spec.model.dropout ? ` (dropout ${spec.model.dropout})` : ""}`),
    fact("Optimizer", `${optimizerLabel(spec.optimizer.name)} · lr ${fmt(spec.optimizer.lr, 3)}`),
    fact("Schedule", spec.schedule?.name),
    fact("Step", run.progress.step != null ? `${run.progress.step} / ${run.progress.total_steps ?? "?"}` : null, { id: "step" }),
    fact("ETA", run.status === "running" ? fmtDuration(run.progress.eta_s) : "—"),
    fact("Test accuracy", fmtMetric("test_acc", finals.test_acc)),
    fact("Test loss", fmtMetric("test_loss", finals.test_loss)),
    fact("Device", run.device),
    fact("Worker", run.worker),
    fact("Queued", fmtTime(run.timings.queued_at)),
    fact("Finished", fmtTime(run.timings.finished_at)));
  $("spec").textContent = JSON.stringify(spec, null, 2);
  if (run.environment) {
    const rows = [];
    const walk = (prefix, value) => {
      if (value && typeof value === "object" && !Array.isArray(value)) for (const [k, v] of Object.entries(value)) walk(prefix ? `${prefix}.${k}` : k, v);
      else rows.push(el("dt", {}, prefix), el("dd", {}, Array.isArray(value) ? JSON.stringify(value) : String(value)));
    };
    walk("", run.environment);
    fill($("environment"), rows);
  }
  const cancellable = (run.status === "queued" || run.status === "running") && !run.cancel_requested;
  $("cancel").disabled = !cancellable;
  $("cancel").textContent = run.cancel_requested && !TERMINAL.has(run.status) ? "Cancelling…" : "Cancel";
  const weights = run.status === "succeeded" || (run.status === "cancelled" && (run.checkpoints?.length ?? 1) > 0);
  const link = $("download-weights");
  link.setAttribute("aria-disabled", String(!weights));
  link.style.opacity = weights ? "1" : ".45";
  link.href = weights ? `/v1/experiments/${run.id}/checkpoint` : "#";
  if (run.error && run.status !== "succeeded") notice($("notice"), run.error, run.status === "cancelled" ? "info" : "");
}

async function loadLog() {
  try {
    const log = await api(`/v1/experiments/${id}/logs?lines=200`);
    const pre = $("log");
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = log.lines.join("\n") || "(empty: no worker has started the run yet)";
    $("log-note").textContent = log.truncated ? "(the last 200 lines)" : "";
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  } catch (failure) {
    $("log").textContent = failure.message;
  }
}

// --- following the run ----------------------------------------------------------------------

/** New points since the oldest last step of a per-epoch metric (each is written at its
 * epoch's last step, and may reach the store after the next iterations' points). */
async function catchUp() {
  const perEpoch = Object.keys(curves).filter((name) => page.config.metrics[name]?.per === "epoch" && curves[name].steps.length);
  const from = perEpoch.length ? Math.min(...perEpoch.map(lastStep)) + 1 : 0;
  const read = await api(`/v1/experiments/${id}/metrics?step_min=${from}&max_points=20000`);
  const points = [];
  let thinned = false;
  for (const [name, curve] of Object.entries(read.curves)) {
    thinned ||= curve.downsampled;
    curve.steps.forEach((step, i) => points.push({ name, step, value: curve.values[i], epoch: curve.epochs[i] }));
  }
  if (thinned) await loadBuckets(); else appendPoints(points);
  scheduleRebucket();
}

let polls = 0;
async function poll() {
  const next = await api(`/v1/experiments/${id}`);
  showRun(next);
  await catchUp();
  if (polls++ % 5 === 0) loadLog();
  if (TERMINAL.has(next.status)) { await finished(); return false; }
  return true;
}

const SETTLE_MS = 2000;

async function finished() {
  await loadBuckets();
  loadLog();
  // The run's last files (final weights, the log's last lines) may be indexed a moment
  // after its status is: read it once more.
  setTimeout(async () => { showRun(await api(`/v1/experiments/${id}`)); loadLog(); }, SETTLE_MS);
}

function onEvent(type, data) {
  if (type === "status" || type === "end") {
    run = { ...run, status: data.status };
    showRun(run);
    if (type === "end" || TERMINAL.has(data.status)) api(`/v1/experiments/${id}`).then((next) => { showRun(next); finished(); });
  } else if (type === "progress") {
    const { experiment_id: _, ...progress } = data;
    run = { ...run, progress: { ...run.progress, ...progress }, status: run.status === "queued" ? "running" : run.status };
    showRun(run);
  } else if (type === "points") {
    appendPoints(data.points);
    scheduleRebucket();
  }
}

async function main() {
  await start("runs");
  $("smoothing").addEventListener("input", (event) => {
    smoothing = Number(event.target.value);
    $("smoothing-value").textContent = smoothing.toFixed(2).replace(/0$/, "");
    queueDraw();
  });
  smoothing = Number($("smoothing").value);
  $("cancel").addEventListener("click", async () => {
    try {
      const answer = await api(`/v1/experiments/${id}/cancel`, { method: "POST" });
      showRun({ ...run, ...answer });
      notice($("notice"), answer.status === "cancelled" ? "Cancelled." : "Asked to stop: it ends cancelled within about a second.", "info");
    } catch (failure) { notice($("notice"), failure.message); }
  });
  $("delete").addEventListener("click", () => $("confirm-delete").showModal());
  $("confirm-delete").addEventListener("close", async () => {
    if ($("confirm-delete").returnValue !== "delete") return;
    try {
      await api(`/v1/experiments/${id}`, { method: "DELETE", accept: "*/*" });
      window.location.assign("/");
    } catch (failure) { notice($("notice"), failure.message); }
  });
  $("download-csv").addEventListener("click", async () => {
    try {
      const response = await api(`/v1/experiments/${id}/metrics`, { accept: "text/csv" });
      saveText(await response.text(), `${run.name}-${run.id.slice(0, 8)}.csv`);
    } catch (failure) { notice($("notice"), failure.message); }
  });
  $("download-weights").addEventListener("click", (event) => {
    if (event.currentTarget.getAttribute("aria-disabled") === "true") event.preventDefault();
  });
  // The curves are asked for beside the run itself: the first drawing waits for one answer.
  const firstBuckets = api(`/v1/experiments/${id}/metrics/buckets?buckets=${BUCKETS}`);
  firstBuckets.catch(() => {}); // a missing run is told once, below
  try {
    showRun(await api(`/v1/experiments/${id}`));
  } catch (failure) {
    notice($("notice"), failure.status === 404 ? `No run ${id} here (it may be another tenant's, or deleted).` : failure.message);
    document.body.dataset.loaded = "missing";
    return;
  }
  ensureCharts();
  const drawn = takeBuckets(await firstBuckets, null);
  loadLog();
  document.body.dataset.loaded = "true";
  if (TERMINAL.has(run.status)) return;
  // The stream starts after the points just drawn: its history is only what came since.
  const events = new URLSearchParams(drawn.events_from ? { last_event_id: drawn.events_from } : {});
  follow(`/v1/experiments/${id}/events?${events}`, { onEvent, onOpen: catchUp, poll, intervalMs: 1000 });
}

main();
