// The sweep page: its members live (status, progress, final metric), the best
// configuration so far, the learning-rate sensitivity (final metric against lr on a log
// axis, the median over seeds with a band from the first to the third quartile), the
// best configurations' learning curves and the ranking of the report
// (GET /v1/sweeps/{id}/report). Live by server-sent events, or by polling.

import {
  api, el, fill, fmt, fmtDuration, fmtMetric, fmtTime, follow, notice, optimizerLabel,
  distinctParamTexts, optimizerLine, paramText, progressBar, saveText, start, statusBadge,
} from "./common.js";
import { CurveChart } from "./chart.js";

const id = decodeURIComponent(window.location.pathname.split("/")[2] || "");
const $ = (name) => document.getElementById(name);
const CURVES_SHOWN = 6;

let sweep = null;
let report = null;
let members = [];
let sensitivity = null;
let learning = null;

function fact(label, value, attrs = {}) {
  return el("div", {}, el("dt", {}, label), el("dd", { title: String(value ?? ""), ...attrs }, value ?? "—"));
}

/** The members that did not succeed, by how they ended: "4 failed · 1 stopped", "none". */
function endedOtherwise(m) {
  const parts = [["failed", m.failed], ["stopped", m.stopped], ["cancelled", m.cancelled]]
    .filter(([, count]) => count > 0).map(([how, count]) => `${count} ${how}`);
  return parts.length ? parts.join(" · ") : "none";
}

function showSweep(next) {
  sweep = next;
  document.title = `${sweep.name} · sweep · adamlab`;
  $("name").textContent = sweep.name;
  $("sweep-id").textContent = sweep.id.slice(0, 8);
  fill($("status"), statusBadge(sweep.status));
  document.body.dataset.status = sweep.status;
  fill($("progress"), progressBar({ fraction: sweep.progress.fraction, eta_s: sweep.progress.eta_s }, sweep.status === "running" ? "running" : "succeeded"));
  const m = sweep.members;
  const done = m.succeeded + m.failed + m.cancelled + m.stopped;
  document.body.dataset.membersDone = String(done);
  const best = sweep.best;
  fill($("facts"),
    fact("Method", sweep.method),
    fact("Metric", `${sweep.metric.name} (${sweep.metric.goal})`),
    fact("Members", `${done} of ${m.planned} done`, { id: "members-done" }),
    fact("Running", `${m.running} running · ${m.queued} queued`),
    fact("Ended otherwise", endedOtherwise(m), { id: "ended-otherwise" }),
    fact("ETA", sweep.status === "running" ? fmtDuration(sweep.progress.eta_s) : "—"),
    fact("Best so far", best ? fmtMetric(sweep.metric.name, best.value) : "—", { id: "best-value" }),
    fact("Best configuration", best ? paramText(best.params) : "—"),
    fact("Its seeds", best ? `${best.seeds}` : "—"),
    fact("Best member", best ? el("a", { href: `/runs/${best.experiment_id}` }, `${best.experiment_id.slice(0, 8)} (seed ${best.seed})`) : "—"),
    fact("Created", fmtTime(sweep.created_at)),
    fact("Finished", fmtTime(sweep.finished_at)));
  $("cancel").disabled = sweep.status !== "running";
  $("table1-link").href = `/table1?sweep=${sweep.id}`;
}

function showMembers() {
  const byId = {};
  for (const configuration of report?.configurations || []) {
    for (const member of configuration.members) byId[member.experiment_id] = configuration;
  }
  $("member-count").textContent = String(members.length);
  $("metric-head").textContent = sweep?.metric.name || "Final";
  const labelled = members.map((run) => {
    const configuration = byId[run.id];
    const label = configuration ? paramText(configuration.params) : `name=${run.spec.optimizer.name}, lr=${run.spec.optimizer.lr}`;
    return { run, label };
  }).sort((a, b) => a.label.localeCompare(b.label) || a.run.spec.seed - b.run.spec.seed);
  fill(document.querySelector("#members tbody"), labelled.map(({ run, label }) => {
    return el("tr", { "data-id": run.id, "data-status": run.status },
      el("td", { title: label }, el("a", { href: `/runs/${run.id}` }, label)),
      el("td", { class: "num" }, String(run.spec.seed)),
      el("td", {}, statusBadge(run.status)),
      el("td", {}, progressBar(run.progress, run.status)),
      el("td", { class: "num" }, fmtMetric(sweep.metric.name, run.final_metrics?.[sweep.metric.name])),
      el("td", { class: "muted", title: run.stop_reason || run.error || "" }, run.stop_reason || run.error || ""));
  }));
}

function showReport() {
  if (!report) return;
  const metric = report.metric;
  fill(document.querySelector("#report tbody"), report.configurations.map((c) => el("tr", { "data-config": c.config_key },
    el("td", { class: "num" }, c.rank ?? "—"),
    el("td", {}, optimizerLabel(c.optimizer)),
    el("td", { class: "num" }, fmt(c.lr, 3)),
    el("td", { title: paramText(c.params) }, paramText(c.params)),
    el("td", { class: "num" }, String(c.n)),
    el("td", { class: "num" }, fmtMetric(metric, c.median)),
    el("td", { class: `num${c.rank === 1 ? " cell-ok" : ""}` }, fmtMetric(metric, c.iqm)),
    el("td", { class: "num" }, c.ci_low == null ? "—" : `${fmtMetric(metric, c.ci_low)} – ${fmtMetric(metric, c.ci_high)}`),
    el("td", { class: "muted" }, c.members.map((m) => m.final == null ? "·" : fmtMetric(metric, m.final)).join("  ")))));
  $("report-note").textContent = `(${report.counts.succeeded || 0} succeeded members; IQM: interquartile mean over seeds)`;

  const tasks = new Set(report.sensitivity.map((s) => s.task));
  const variants = {};
  const lines = report.sensitivity.filter((s) => s.points.length).map((s) => {
    const variant = variants[s.optimizer] = (variants[s.optimizer] ?? -1) + 1;
    const sorted = [...s.points].sort((a, b) => a.lr - b.lr);
    return {
      key: `${s.task}-${s.optimizer}`, label: tasks.size > 1 ? `${optimizerLabel(s.optimizer)} · ${s.task}` : optimizerLabel(s.optimizer),
      ...optimizerLine(s.optimizer, variant),
      x: sorted.map((p) => p.lr), y: sorted.map((p) => p.median), lo: sorted.map((p) => p.q25), hi: sorted.map((p) => p.q75),
      count: sorted.reduce((n, p) => n + p.n, 0),
    };
  });
  sensitivity.setCurves(lines);

  const ranked = report.configurations.filter((c) => c.rank !== null).slice(0, CURVES_SHOWN).map((c) => c.config_key);
  const configs = Object.fromEntries(report.configurations.map((c) => [c.config_key, c]));
  const curveVariants = {};
  const shown = report.curves.filter((curve) => ranked.includes(curve.config_key));
  const labels = distinctParamTexts(shown.map((curve) => configs[curve.config_key].params));
  learning.setCurves(shown.map((curve, i) => {
    const c = configs[curve.config_key];
    const variant = curveVariants[c.optimizer] = (curveVariants[c.optimizer] ?? -1) + 1;
    return {
      key: curve.config_key, label: `#${c.rank} ${labels[i]}`, ...optimizerLine(c.optimizer, variant),
      x: curve.epochs, y: curve.median, lo: curve.q25, hi: curve.q75, count: curve.n.reduce((a, b) => a + b, 0),
    };
  }));
}

let lastDone = -1;
async function refresh({ withReport = false } = {}) {
  // The sweep first, then its members: once it reads finished, every member has ended
  // and the list read after it shows them so.
  const next = await api(`/v1/sweeps/${id}`);
  const listed = await api(`/v1/experiments?sweep=${id}&limit=500&sort=created_at`);
  showSweep(next);
  members = listed.data;
  const done = Number(document.body.dataset.membersDone);
  if (withReport || done !== lastDone || !report || sweep.status !== "running") {
    lastDone = done;
    report = await api(`/v1/sweeps/${id}/report`);
    showReport();
  }
  showMembers();
  return sweep.status === "running";
}

let pending = null;
function refreshSoon() {
  if (pending) return;
  pending = setTimeout(async () => { pending = null; try { await refresh(); } catch (failure) { console.warn(failure); } }, 300);
}

async function main() {
  await start("runs");
  sensitivity = new CurveChart($("charts"), { id: "chart-sensitivity", title: "Learning-rate sensitivity: median over seeds, quartile band", xLabel: "learning rate", logX: true, markers: true, wide: true });
  learning = new CurveChart($("charts"), { id: "chart-learning", title: "Best configurations: median curve, quartile band", xLabel: "epoch", markers: true, wide: true, legendRows: 3 });
  $("cancel").addEventListener("click", async () => {
    try { showSweep(await api(`/v1/sweeps/${id}/cancel`, { method: "POST" })); } catch (failure) { notice($("notice"), failure.message); }
  });
  $("report-csv").addEventListener("click", async (event) => {
    event.preventDefault();
    const response = await api(`/v1/sweeps/${id}/report`, { accept: "text/csv" });
    saveText(await response.text(), `${sweep.name}-${sweep.id.slice(0, 8)}-report.csv`);
  });
  try {
    await refresh({ withReport: true });
  } catch (failure) {
    notice($("notice"), failure.status === 404 ? `No sweep ${id} here (it may be another tenant's, or deleted).` : failure.message);
    document.body.dataset.loaded = "missing";
    return;
  }
  document.body.dataset.loaded = "true";
  if (sweep.status !== "running") return;
  follow(`/v1/sweeps/${id}/events`, {
    onEvent: (type) => { if (type !== "points") refreshSoon(); },
    onOpen: refreshSoon,
    poll: () => refresh(),
    intervalMs: 1500,
  });
}

main();
