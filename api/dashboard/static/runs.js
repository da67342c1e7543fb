// The runs page: the tenant's sweeps and runs, live (re-read every 2 s: status, progress,
// final metrics), filtered, searched and sorted by the server (GET /v1/experiments), and a
// selection of runs to compare. The filters live in the URL, so a reload keeps them.

import { api, el, fill, fmt, fmtMetric, fmtTime, notice, optimizerLabel, paramText, progressBar, showLiveMode, start, statusBadge } from "./common.js";

const STATUSES = ["queued", "running", "succeeded", "failed", "cancelled", "stopped"];
const REFRESH_MS = 2000;
const PAGE_SIZE = 100;

const $ = (id) => document.getElementById(id);
const selected = new Set();
let limit = PAGE_SIZE;

function option(value, label, current) {
  return el("option", { value, selected: value === current }, label);
}

function sortLabel(key) {
  const descending = key.startsWith("-");
  const name = key.replace(/^-/, "");
  const metric = window.adamlabConfig.metrics[name];
  const what = metric ? metric.label : name.replace("_", " ");
  if (name === "created_at") return descending ? "newest first" : "oldest first";
  if (metric) {
    const best = metric.higher_is_better === descending;
    return `${what}, ${best ? "best" : "worst"} first`;
  }
  return `${what} ${descending ? "Z→A" : "A→Z"}`;
}

function readFilters() {
  const query = new URLSearchParams(window.location.search);
  return {
    q: query.get("q") || "",
    status: query.get("status") || "",
    optimizer: query.get("optimizer") || "",
    dataset: query.get("dataset") || "",
    sort: query.get("sort") || "-created_at",
  };
}

function writeFilters() {
  const query = new URLSearchParams();
  const values = { q: $("search").value.trim(), status: $("status").value, optimizer: $("optimizer").value, dataset: $("dataset").value, sort: $("sort").value };
  for (const [key, value] of Object.entries(values)) if (value && !(key === "sort" && value === "-created_at")) query.set(key, value);
  const search = query.toString();
  window.history.replaceState(null, "", search ? `/?${search}` : "/");
  return values;
}

/** The test loss; for a generative model (the VAE), which has none, its test ELBO. */
function lossCell(finals) {
  if (finals.test_loss === undefined && finals.test_elbo !== undefined) {
    return el("td", { class: "num", title: "test ELBO (the VAE's metric: higher is better)" },
      el("span", { class: "muted" }, "ELBO "), fmtMetric("test_elbo", finals.test_elbo));
  }
  return el("td", { class: "num" }, fmtMetric("test_loss", finals.test_loss));
}

function runRow(run) {
  const finals = run.final_metrics || {};
  const checkbox = el("input", {
    type: "checkbox", "aria-label": `Select ${run.name} to compare`, checked: selected.has(run.id),
    onchange: (event) => {
      if (event.target.checked) selected.add(run.id); else selected.delete(run.id);
      event.target.closest("tr").classList.toggle("selected", event.target.checked);
      updateCompare();
    },
  });
  return el("tr", { "data-id": run.id, "data-status": run.status, class: selected.has(run.id) ? "selected" : null },
    el("td", { class: "check" }, checkbox),
    el("td", { title: run.name }, el("a", { href: `/runs/${run.id}` }, run.name), " ", el("span", { class: "muted mono" }, run.id.slice(0, 8))),
    el("td", {}, statusBadge(run.status)),
    el("td", {}, progressBar(run.progress, run.status)),
    el("td", {}, optimizerLabel(run.spec.optimizer.name)),
    el("td", { class: "num" }, fmt(run.spec.optimizer.lr, 3)),
    el("td", { class: "num" }, fmtMetric("test_acc", finals.test_acc)),
    lossCell(finals),
    el("td", {}, fmtTime(run.timings.queued_at)));
}

function sweepRow(sweep) {
  const members = sweep.members;
  const best = sweep.best
    ? `${fmtMetric(sweep.metric.name, sweep.best.value)} · ${paramText(sweep.best.params)}`
    : "—";
  return el("tr", { "data-id": sweep.id, "data-status": sweep.status },
    el("td", {}, el("a", { href: `/sweeps/${sweep.id}` }, sweep.name), " ", el("span", { class: "muted mono" }, sweep.id.slice(0, 8))),
    el("td", {}, statusBadge(sweep.status)),
    el("td", { class: "num" }, `${members.succeeded + members.failed + members.cancelled + members.stopped}/${members.planned} done`),
    el("td", {}, progressBar({ fraction: sweep.progress.fraction, eta_s: sweep.progress.eta_s }, sweep.status === "running" ? "running" : "succeeded")),
    el("td", { title: best }, best),
    el("td", {}, fmtTime(sweep.created_at)));
}

function updateCompare() {
  const button = $("compare");
  button.disabled = selected.size < 1;
  button.textContent = selected.size ? `Compare selected (${selected.size})` : "Compare selected";
}

async function refresh() {
  const filters = writeFilters();
  const query = new URLSearchParams({ limit: String(limit), sort: filters.sort });
  if (filters.q) query.set("name_contains", filters.q);
  if (filters.status) query.set("status", filters.status);
  if (filters.optimizer) query.set("optimizer", filters.optimizer);
  if (filters.dataset) query.set("dataset", filters.dataset);
  try {
    const [runs, sweeps] = await Promise.all([
      api(`/v1/experiments?${query}`),
      api("/v1/sweeps?limit=20"),
    ]);
    fill(document.querySelector("#runs tbody"), runs.data.map(runRow));
    $("count").textContent = `${runs.count}`;
    $("count").dataset.count = String(runs.count);
    $("more").classList.toggle("hidden", !runs.next_cursor);
    fill(document.querySelector("#sweeps tbody"), sweeps.data.map(sweepRow));
    $("sweeps-card").classList.toggle("hidden", sweeps.data.length === 0);
    notice($("notice"), "");
    document.body.dataset.loaded = "true";
  } catch (failure) {
    notice($("notice"), failure.message);
  }
}

async function main() {
  const { config } = await start("runs");
  window.adamlabConfig = config;
  const filters = readFilters();
  $("search").value = filters.q;
  $("status").append(...STATUSES.map((s) => option(s, s, filters.status)));
  $("optimizer").append(...Object.keys(config.optimizers).map((o) => option(o, config.optimizers[o].label, filters.optimizer)));
  $("dataset").append(...[...Object.keys(config.train_sizes), "linear"].map((d) => option(d, d, filters.dataset)));
  $("sort").append(...config.sort_keys.flatMap((key) => [`-${key}`, key]).map((key) => option(key, sortLabel(key), filters.sort)));
  let typing = null;
  $("search").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(refresh, 250); });
  for (const id of ["status", "optimizer", "dataset", "sort"]) $(id).addEventListener("change", refresh);
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); refresh(); });
  for (const button of document.querySelectorAll("button.sort")) {
    button.addEventListener("click", () => {
      const key = button.dataset.sort;
      const metric = config.metrics[key];
      const first = metric ? (metric.higher_is_better ? `-${key}` : key) : key === "created_at" ? "-created_at" : key;
      $("sort").value = $("sort").value === first ? (first.startsWith("-") ? key : `-${key}`) : first;
      refresh();
    });
  }
  $("compare").addEventListener("click", () => window.location.assign(`/compare?ids=${[...selected].join(",")}`));
  $("more").addEventListener("click", () => { limit = Math.min(500, limit + PAGE_SIZE); refresh(); });
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && document.activeElement?.tagName !== "INPUT") { event.preventDefault(); $("search").focus(); }
  });
  await refresh();
  showLiveMode("refresh");
  setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
}

main();
