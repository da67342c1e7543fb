// The Table 1 view: a table1 sweep's configurations (GET /v1/sweeps/{id}/report), or the
// runs tagged table1 (adamlab reproduce table1 --server), beside the study's published
// test accuracies (core.table1): ours, the published number and the difference, each
// cell marked when it is within the target (published minus TOLERANCE_POINTS).

import { api, el, fill, notice, optimizerLabel, start } from "./common.js";

const $ = (name) => document.getElementById(name);
let config = null;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** cells[optimizer][column index] = {value (fraction), n, low, high} */
function cellsFromReport(report) {
  const { columns, model_keys: keys } = config.table1;
  const cells = {};
  for (const c of report.configurations) {
    const model = c.params.model || {};
    const optimizer = (c.params.optimizer || {}).name || c.optimizer;
    const column = columns.findIndex((col) => col.model === keys[model.name] && col.dropout === (model.dropout > 0));
    if (column < 0 || c.iqm === null) continue;
    (cells[optimizer] ||= {})[column] = { value: c.iqm, n: c.n, low: c.ci_low, high: c.ci_high };
  }
  return cells;
}

function cellsFromRuns(runs) {
  const { columns, model_keys: keys } = config.table1;
  const grouped = {};
  for (const run of runs) {
    const model = run.spec.model;
    const column = columns.findIndex((col) => col.model === keys[model.name] && col.dropout === (model.dropout > 0));
    const value = run.final_metrics?.test_acc;
    if (column < 0 || value == null) continue;
    ((grouped[run.spec.optimizer.name] ||= {})[column] ||= []).push(value);
  }
  const cells = {};
  for (const [optimizer, byColumn] of Object.entries(grouped)) {
    for (const [column, values] of Object.entries(byColumn)) {
      (cells[optimizer] ||= {})[column] = { value: median(values), n: values.length, low: null, high: null };
    }
  }
  return cells;
}

function draw(cells) {
  const { columns, published, tolerance_points: tolerance, optimizers } = config.table1;
  fill($("table1-head"), el("th", { style: "width:170px" }, "Optimizer"), columns.map((c) => el("th", { class: "num" }, c.title)));
  let filled = 0;
  fill(document.querySelector("#table1 tbody"), optimizers.flatMap((optimizer) => {
    const ours = columns.map((_, i) => {
      const cell = cells[optimizer]?.[i];
      if (!cell) return el("td", { class: "num muted" }, "—");
      filled += 1;
      const points = 100 * cell.value;
      const ok = points >= published[optimizer][i] - tolerance;
      const interval = cell.low != null ? ` [${(100 * cell.low).toFixed(2)}, ${(100 * cell.high).toFixed(2)}]` : "";
      return el("td", { class: `num ${ok ? "cell-ok" : "cell-low"}`, title: `${cell.n} seed(s)${interval}`, "data-value": points.toFixed(2) },
        points.toFixed(2), el("span", { class: "muted" }, ` (n=${cell.n})`));
    });
    const theirs = columns.map((_, i) => el("td", { class: "num muted" }, published[optimizer][i].toFixed(2)));
    const delta = columns.map((_, i) => {
      const cell = cells[optimizer]?.[i];
      if (!cell) return el("td", { class: "num delta" }, "");
      const d = 100 * cell.value - published[optimizer][i];
      return el("td", { class: "num delta" }, `${d >= 0 ? "+" : ""}${d.toFixed(2)}`);
    });
    return [
      el("tr", { "data-optimizer": optimizer }, el("th", {}, `${optimizerLabel(optimizer)} · ours`), ours),
      el("tr", {}, el("th", { class: "muted" }, "published"), theirs),
      el("tr", {}, el("th", { class: "muted" }, "difference"), delta),
    ];
  }));
  $("table1").dataset.cells = String(filled);
  $("legend").textContent = `green: at or above the published value minus ${tolerance} points`;
}

/** How a sweep's base spec departs from the study's 20 epochs on all of MNIST. */
function settingDifferences(base) {
  const { study_epochs: epochs } = config.table1;
  const found = [];
  if ((base.epochs ?? epochs) !== epochs) found.push(`${base.epochs} epoch(s), the study ${epochs}`);
  if (base.dataset?.train_limit) found.push(`${base.dataset.train_limit} training examples, the study all ${config.train_sizes.mnist}`);
  if (base.dataset?.test_limit) found.push(`${base.dataset.test_limit} test examples, the study all 10000`);
  return found;
}

async function load(source) {
  if (!source) { draw({}); return; }
  try {
    if (source.startsWith("tag:")) {
      const runs = await api("/v1/experiments?tag=table1&status=succeeded&limit=500");
      draw(cellsFromRuns(runs.data));
      notice($("notice"), "");
    } else {
      const [sweep, report] = await Promise.all([api(`/v1/sweeps/${source}`), api(`/v1/sweeps/${source}/report`)]);
      draw(cellsFromReport(report));
      const differences = settingDifferences(sweep.spec.base);
      notice($("notice"), differences.length ? `Not the study's setting: ${differences.join("; ")}.` : "", "info");
    }
  } catch (failure) {
    notice($("notice"), failure.message);
  }
  window.history.replaceState(null, "", `/table1?sweep=${encodeURIComponent(source)}`);
}

async function main() {
  ({ config } = await start("table1"));
  const sweeps = (await api("/v1/sweeps?limit=200")).data.filter((s) => s.name.startsWith("table1"));
  const wanted = new URLSearchParams(window.location.search).get("sweep");
  const options = sweeps.map((s) => el("option", { value: s.id }, `${s.name} · ${s.id.slice(0, 8)} · ${s.status} · ${s.members.succeeded}/${s.members.planned}`));
  options.push(el("option", { value: "tag:table1" }, "runs tagged table1 (adamlab reproduce table1 --server)"));
  fill($("sweep"), options);
  if (wanted) {
    if (![...$("sweep").options].some((o) => o.value === wanted)) $("sweep").prepend(el("option", { value: wanted }, `sweep ${wanted.slice(0, 8)}`));
    $("sweep").value = wanted;
  }
  $("sweep").addEventListener("change", (event) => load(event.target.value));
  await load($("sweep").value);
  document.body.dataset.loaded = "true";
}

main();
