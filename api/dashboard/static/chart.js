// A chart of curves drawn with uPlot (vendor/uPlot.iife.min.js, the global `uPlot`): each
// curve a line (its buckets' means, or its points) and, where a bucket holds several
// points, a band from their minimum to their maximum, so no spike is lost at any zoom.
// Dragging across the plot zooms in (double-click or "Reset zoom" goes back); `onZoom`
// hears the new range so the page can ask the server for finer buckets of it.
//
// Curves: [{key, label, color, dash: [on, off, ...], width, alpha, x: [], y: [], lo: [],
// hi: []}]; `lo`/`hi` may be omitted (no band). The chart's box has a fixed height and a
// legend of fixed height, so nothing on the page moves while curves grow.

/* global uPlot */

function rgba(hex, alpha) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return `rgba(${r},${g},${b},${alpha})`;
}

/** The sorted union of the curves' x values, and each curve's columns on it (null: none). */
function aligned(curves) {
  const first = curves.length ? curves[0].x : [];
  const same = curves.every((c) => c.x === first || (c.x.length === first.length && c.x.every((v, i) => v === first[i])));
  if (curves.length === 1 || same) {
    return { x: curves.length ? curves[0].x : [], columns: curves.map((c) => [c.y, c.lo, c.hi]) };
  }
  const all = new Float64Array(curves.reduce((n, c) => n + c.x.length, 0));
  let n = 0;
  for (const c of curves) { all.set(c.x, n); n += c.x.length; }
  all.sort();
  const x = [];
  for (let i = 0; i < all.length; i++) if (i === 0 || all[i] !== all[i - 1]) x.push(all[i]);
  const columns = curves.map((c) => {
    const cols = [new Array(x.length).fill(null), c.lo ? new Array(x.length).fill(null) : undefined, c.hi ? new Array(x.length).fill(null) : undefined];
    let j = 0;
    for (let i = 0; i < c.x.length; i++) {
      while (x[j] < c.x[i]) j++;
      cols[0][j] = c.y[i];
      if (cols[1]) cols[1][j] = c.lo[i];
      if (cols[2]) cols[2][j] = c.hi[i];
    }
    return cols;
  });
  return { x, columns };
}

function tickLabel(value, log) {
  if (value === null) return "";
  const abs = Math.abs(value);
  if (log || abs < 1e-3 || abs >= 1e6) return value === 0 ? "0" : Number(value.toPrecision(3)).toString();
  if (abs >= 1e4) return `${Number((value / 1e3).toPrecision(3))}k`;
  return Number(value.toPrecision(4)).toString();
}

const MARKERS_UP_TO = 60;
const BAND_ALPHA = 0.18;

/** On a log axis, grid lines and labels at 1, 2 and 5 of each decade, or at each decade
 * alone where the axis spans more than two. */
function logSplits(u, splits) {
  const positive = splits.filter((v) => v > 0);
  const decades = positive.length ? Math.log10(Math.max(...positive) / Math.min(...positive)) : 0;
  const kept = decades > 2 ? [1] : [1, 2, 5];
  return splits.map((v) => {
    const mantissa = v / 10 ** Math.floor(Math.log10(v) + 1e-9);
    return kept.some((m) => Math.abs(mantissa - m) < 1e-6) ? v : null;
  });
}

/** Tick spacings of an epoch or iteration axis: whole numbers only (core.figure_style). */
const INTEGER_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1e3, 2e3, 2.5e3, 5e3, 1e4, 2e4, 2.5e4, 5e4,
  1e5, 2e5, 2.5e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2e7, 5e7, 1e8];

export class CurveChart {
  constructor(container, { title, xLabel = "iteration", logX = false, logY = false, onZoom, wide = false, id, markers = false, legendRows = 2 }) {
    this.markers = markers;
    this.logX = logX;
    this.logY = logY;
    this.xLabel = xLabel;
    this.onZoom = onZoom;
    this.curves = [];
    this.zoomed = null;
    this.plot = null;
    this.keys = "";
    this.root = document.createElement("figure");
    this.root.className = `chart${wide ? " wide" : ""}`;
    this.root.style.margin = "0";
    if (id) this.root.id = id;
    this.root.dataset.points = "0";
    this.root.dataset.drawn = "0";
    this.root.dataset.xAxis = xLabel;
    const heading = document.createElement("h3");
    heading.textContent = title;
    this.actions = document.createElement("span");
    this.actions.className = "actions";
    this.reset = document.createElement("button");
    this.reset.type = "button";
    this.reset.textContent = "Reset zoom";
    this.reset.disabled = true;
    this.reset.addEventListener("click", () => this.resetZoom());
    this.actions.append(this.reset);
    heading.append(this.actions);
    this.area = document.createElement("div");
    this.area.className = "plot";
    this.empty = document.createElement("div");
    this.empty.className = "empty";
    this.empty.textContent = "No points yet";
    this.legend = document.createElement("div");
    this.legend.className = "legend";
    this.legend.style.height = `${20 * legendRows}px`; // fixed: the page does not move as entries come
    this.root.append(heading, this.area, this.empty, this.legend);
    container.append(this.root);
    new ResizeObserver(() => this.plot?.setSize(this.size())).observe(this.area);
  }

  size() {
    return { width: Math.max(200, this.area.clientWidth), height: Math.max(120, this.area.clientHeight) };
  }

  /** Draw `curves` (see the top of this file); `points` is how many stored points they stand for. */
  setCurves(curves, { points } = {}) {
    const started = performance.now();
    this.curves = curves;
    const keys = curves.map((c) => `${c.key}|${c.lo ? 1 : 0}`).join(",");
    const { x, columns } = aligned(curves);
    const data = [x];
    const bands = [];
    for (const [i, c] of curves.entries()) {
      data.push(columns[i][0]);
      if (c.lo && c.hi) {
        data.push(columns[i][2], columns[i][1]);
        bands.push([data.length - 2, data.length - 1, c]);
      }
    }
    if (keys !== this.keys || !this.plot) {
      this.keys = keys;
      this.plot?.destroy();
      this.plot = new uPlot(this.options(curves, bands), data, this.area);
    } else {
      this.plot.setData(data, this.zoomed === null);
      if (this.zoomed) this.plot.setScale("x", this.zoomed);
    }
    this.empty.classList.toggle("hidden", x.length > 0);
    this.drawLegend();
    const total = points ?? curves.reduce((n, c) => n + (c.count ?? c.x.length), 0);
    this.root.dataset.points = String(total);
    this.root.dataset.drawn = String(x.length);
    this.root.dataset.xMax = x.length ? String(x[x.length - 1]) : "";
    this.root.dataset.renderMs = (performance.now() - started).toFixed(1);
  }

  options(curves, bands) {
    const series = [{ label: this.xLabel }];
    for (const c of curves) {
      const stroke = c.alpha && c.alpha < 1 ? rgba(c.color, c.alpha) : c.color;
      // Markers on per-epoch curves where points are few, as the server's figures draw them.
      const markers = (u) => this.markers && !(c.alpha < 1) && u.data[0].length <= MARKERS_UP_TO;
      series.push({ label: c.label, stroke, width: c.width || 2, dash: c.dash && c.dash.length ? c.dash : undefined, spanGaps: true, points: { show: markers, size: 6, fill: stroke } });
      if (c.lo && c.hi) {
        series.push({ label: `${c.label} max`, stroke: "transparent", width: 0, spanGaps: true, points: { show: false } });
        series.push({ label: `${c.label} min`, stroke: "transparent", width: 0, spanGaps: true, points: { show: false } });
      }
    }
    return {
      ...this.size(),
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: true }, points: { show: false } },
      scales: {
        x: { time: false, distr: this.logX ? 3 : 1 },
        y: { distr: this.logY ? 3 : 1 },
      },
      axes: [
        this.axis({ label: this.xLabel, labelSize: 18, size: 36, values: (u, ticks) => ticks.map((t) => tickLabel(t, this.logX)) }, this.logX, !this.logX),
        this.axis({ size: 58, values: (u, ticks) => ticks.map((t) => tickLabel(t, this.logY)) }, this.logY, false),
      ],
      series,
      bands: bands.map(([hi, lo, c]) => ({ series: [hi, lo], fill: rgba(c.color, BAND_ALPHA) })),
      hooks: {
        setScale: [(u, key) => { if (key === "x") this.scaled(u); }],
        setCursor: [(u) => this.drawLegend(u.cursor.idx)],
      },
    };
  }

  /** An axis: a light grid; on a log scale lines and labels at 1, 2, 5 of each decade; on
   * an iteration or epoch axis whole-number ticks. (uPlot's own defaults where unset:
   * an option set to undefined would replace them.) */
  axis(base, log, integers) {
    const axis = { ...base, grid: { stroke: "#e9ecf0" } };
    if (log) {
      axis.filter = logSplits;
      axis.grid.filter = logSplits;
      axis.ticks = { filter: logSplits };
    }
    if (integers) axis.incrs = INTEGER_STEPS;
    return axis;
  }

  scaled(u) {
    const x = u.data[0];
    if (!x.length) return;
    const { min, max } = u.scales.x;
    const whole = min <= x[0] && max >= x[x.length - 1];
    const before = this.zoomed;
    this.zoomed = whole ? null : { min, max };
    this.reset.disabled = this.zoomed === null;
    const changed = JSON.stringify(before) !== JSON.stringify(this.zoomed);
    if (changed && this.onZoom) {
      clearTimeout(this.zoomTimer);
      this.zoomTimer = setTimeout(() => this.onZoom(this.zoomed), 120);
    }
  }

  resetZoom() {
    this.zoomed = null;
    this.reset.disabled = true;
    const x = this.plot?.data[0];
    if (x?.length) this.plot.setScale("x", { min: x[0], max: x[x.length - 1] });
    this.onZoom?.(null);
  }

  drawLegend(idx) {
    const items = this.curves.filter((c) => !c.hideInLegend).map((c) => {
      const swatch = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      swatch.setAttribute("width", "26");
      swatch.setAttribute("height", "8");
      const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
      Object.entries({ x1: 0, y1: 4, x2: 26, y2: 4, stroke: c.color, "stroke-width": 2, "stroke-dasharray": (c.dash || []).join(" ") }).forEach(([k, v]) => line.setAttribute(k, v));
      swatch.append(line);
      const item = document.createElement("span");
      item.className = "item";
      const value = document.createElement("span");
      value.className = "value";
      if (idx !== undefined && idx !== null && this.plot) {
        const series = this.plot.series.findIndex((s) => s.label === c.label);
        const v = series > 0 ? this.plot.data[series][idx] : null;
        value.textContent = v === null || v === undefined ? "" : tickLabel(v, false);
      }
      item.append(swatch, document.createTextNode(c.label), value);
      return item;
    });
    this.legend.replaceChildren(...items);
  }
}
