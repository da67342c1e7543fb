// What every page shares: calls to the API (with the sign-in cookie and the CSRF token),
// the sign-in dialog, the top bar, live updates (server-sent events, or polling where the
// server has no events route), the figures' line styles and number formats.

export const page = { config: null, session: null, live: "none" };

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail || `HTTP ${status}`);
    this.status = status;
  }
}

const MUTATING = new Set(["POST", "PATCH", "PUT", "DELETE"]);

/** A call to the API; JSON in and out unless `accept` says otherwise (then the Response). */
export async function api(path, { method = "GET", body, accept } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (accept) headers.Accept = accept;
  if (MUTATING.has(method) && page.session?.csrf_token) {
    headers["X-CSRF-Token"] = page.session.csrf_token;
  }
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let detail = "";
    try { detail = (await response.json()).detail; } catch { /* not JSON */ }
    if (response.status === 401 && path !== "/v1/session") {
      page.session = null;
      await signIn(detail);
      return api(path, { method, body, accept });
    }
    throw new ApiError(response.status, typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  if (accept || response.status === 204) return response;
  return response.json();
}

/** A DOM element: el("a", {href: "/"}, "text", child). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// --- sign-in ------------------------------------------------------------------------------

let signingIn = null;

/** Show the sign-in dialog until a key is accepted; resolves with the session. */
export function signIn(reason) {
  if (signingIn) return signingIn;
  signingIn = new Promise((resolve) => {
    const error = el("div", { class: "error", role: "alert", id: "sign-in-error" }, reason && reason.includes("expired") ? reason : "");
    const key = el("input", {
      type: "password", id: "api-key", name: "api_key", autocomplete: "current-password",
      placeholder: "adl_…", required: true, "aria-label": "API key",
    });
    const form = el("form", { method: "dialog" },
      el("h2", { id: "sign-in-title" }, "Sign in to adamlab"),
      el("label", { for: "api-key", class: "muted" }, "Your API key (it is exchanged for a cookie and kept nowhere in this page):"),
      key, error,
      el("div", { class: "row" }, el("button", { type: "submit", class: "primary", id: "sign-in" }, "Sign in")));
    const dialog = el("dialog", { id: "sign-in-dialog", "aria-labelledby": "sign-in-title" }, form);
    dialog.addEventListener("cancel", (event) => event.preventDefault());
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      try {
        const session = await api("/v1/session", { method: "POST", body: { api_key: key.value } });
        key.value = "";
        page.session = session;
        dialog.close();
        dialog.remove();
        signingIn = null;
        resolve(session);
      } catch (failure) {
        error.textContent = failure.message;
        key.select();
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    key.focus();
  });
  return signingIn;
}

async function currentSession() {
  const response = await fetch("/v1/session", { credentials: "same-origin" });
  if (response.ok) return response.json();
  let detail = "";
  try { detail = (await response.json()).detail; } catch { /* not JSON */ }
  if (response.status === 401) return signIn(detail);
  throw new ApiError(response.status, detail);
}

async function signOut() {
  await api("/v1/session", { method: "DELETE", accept: "*/*" });
  page.session = null;
  window.location.assign("/");
}

// --- the page's frame -----------------------------------------------------------------------

const NAV = [["runs", "/", "Runs"], ["compare", "/compare", "Compare"], ["table1", "/table1", "Table 1"]];

/** Load the config and the session (signing in if needed) and draw the top bar. */
export async function start(active) {
  const [config, session] = await Promise.all([
    fetch("/dashboard/config.json").then((r) => r.json()),
    currentSession(),
  ]);
  page.config = config;
  page.session = session;
  const who = el("div", { class: "who" },
    el("span", { class: "live-mode", id: "live-mode", title: "How this page follows the service" }, "not live"),
    el("span", { id: "tenant" }, session.tenant),
    session.signed_in_by === "cookie"
      ? el("button", { type: "button", id: "sign-out", onclick: signOut }, "Sign out")
      : null);
  const nav = el("nav", { "aria-label": "Pages" }, NAV.map(([key, href, label]) =>
    el("a", { href, "aria-current": key === active ? "page" : null }, label)));
  document.body.prepend(el("header", { class: "top" }, el("a", { class: "brand", href: "/" }, "adamlab"), nav, who));
  return { config, session };
}

export function showLiveMode(mode) {
  page.live = mode;
  document.body.dataset.live = mode;
  const badge = document.getElementById("live-mode");
  if (badge) badge.textContent = mode === "sse" ? "live (events)" : mode === "polling" ? "live (polling)" : mode === "refresh" ? "refreshed every 2 s" : "not live";
}

// --- following the service ------------------------------------------------------------------

const EVENT_TYPES = ["status", "progress", "points", "end", "sweep"];

/**
 * Follow `eventsUrl` (server-sent events: status, progress, points, end, sweep), or, when
 * the server answers it with anything but an event stream (404 before the events route
 * exists), call `poll` every `intervalMs` until it returns false. `onEvent(type, data)`
 * receives each event; `onOpen` runs when the stream opens (to catch up on what happened
 * between the page's first read and the subscription).
 */
export function follow(eventsUrl, { onEvent, onOpen, poll, intervalMs = 1000 }) {
  let stopped = false;
  let timer = null;
  let source = null;
  const polling = () => {
    showLiveMode("polling");
    const tick = async () => {
      if (stopped) return;
      let more = true;
      try { more = await poll(); } catch (failure) { console.warn("poll failed", failure); }
      if (more === false) { stop(); return; }
      timer = setTimeout(tick, intervalMs);
    };
    tick();
  };
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    source?.close();
    showLiveMode("none");
  };
  (async () => {
    const probe = new AbortController();
    let streams = false;
    try {
      const response = await fetch(eventsUrl, { headers: { Accept: "text/event-stream" }, signal: probe.signal, credentials: "same-origin" });
      streams = response.ok && (response.headers.get("content-type") || "").startsWith("text/event-stream");
    } catch { streams = false; }
    probe.abort();
    if (stopped) return;
    if (!streams) { polling(); return; }
    source = new EventSource(eventsUrl, { withCredentials: true });
    showLiveMode("sse");
    source.addEventListener("open", () => onOpen?.());
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (event) => {
        let data = null;
        try { data = JSON.parse(event.data); } catch { return; }
        onEvent(type, data);
        if (type === "end") stop();
      });
    }
    source.addEventListener("error", () => {
      // EventSource reconnects by itself (with Last-Event-ID); once it gives up, poll.
      if (source.readyState === EventSource.CLOSED && !stopped) { source = null; polling(); }
    });
  })();
  return { stop };
}

// --- the figures' look ----------------------------------------------------------------------

/** `color` (#rrggbb) mixed towards black (amount < 0) or white (> 0): core.figure_style.shade. */
export function shade(color, amount) {
  const target = amount > 0 ? 255 : 0;
  return "#" + [1, 3, 5].map((i) => {
    const c = parseInt(color.slice(i, i + 2), 16);
    return Math.round(c + (target - c) * Math.abs(amount)).toString(16).padStart(2, "0");
  }).join("");
}

/** The line of an optimizer's `variant`-th curve: core.figure_style.optimizer_line. */
export function optimizerLine(optimizer, variant = 0) {
  const { optimizers, other_line: other, shades, line_width_px: width } = page.config;
  const known = optimizers[optimizer] || other;
  return { color: shade(known.color, shades[variant % shades.length]), dash: known.dash, width };
}

export function optimizerLabel(name) {
  return page.config.optimizers[name]?.label || name || "?";
}

// --- numbers and words ----------------------------------------------------------------------

export function fmt(value, digits = 4) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (typeof value !== "number") return String(value);
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e6)) return value.toExponential(2);
  return Number(value.toPrecision(digits)).toString();
}

export function fmtMetric(name, value) {
  if (value === null || value === undefined) return "—";
  const unit = page.config.metrics[name]?.unit;
  return unit === "fraction" ? `${(100 * value).toFixed(2)}%` : fmt(value);
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export function fmtTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** A configuration's swept values: "name=adam, lr=0.01" or "model=name=mlp dropout=0.5". */
function valueText(value) {
  if (Array.isArray(value)) return `(${value.map(valueText).join(", ")})`;
  if (value && typeof value === "object") {
    return Object.entries(value).map(([k, v]) => `${k}=${valueText(v)}`).join(" ");
  }
  return String(value);
}

/** A configuration's parameters as "betas=(0.9, 0.999), lr=0.001" (a list as a tuple). */
export function paramText(params, keys = null) {
  return Object.entries(params || {})
    .filter(([key]) => keys === null || keys.includes(key))
    .map(([key, value]) => `${key.split(".").pop()}=${valueText(value)}`)
    .join(", ");
}

/** Each configuration's parameters as paramText writes them, but only those whose values
 *  differ between the configurations (all of them when there is one): short legend labels. */
export function distinctParamTexts(paramsList) {
  if (paramsList.length < 2) return paramsList.map((params) => paramText(params));
  const keys = [...new Set(paramsList.flatMap((params) => Object.keys(params || {})))];
  const differing = keys.filter((key) => new Set(paramsList.map((params) => JSON.stringify(params?.[key]))).size > 1);
  return paramsList.map((params) => paramText(params, differing));
}

export function statusBadge(status) {
  return el("span", { class: `status ${status}`, "data-status": status }, status);
}

/** A progress bar of fixed width with its text ("3/10 epochs · ETA 1m 20s"). */
export function progressBar(progress, status) {
  const fraction = status === "succeeded" ? 1 : progress?.fraction ?? 0;
  const text = [];
  if (progress?.epochs) text.push(`${progress.epoch ?? 0}/${progress.epochs} ep`);
  if (status === "running" && progress?.eta_s != null) text.push(`ETA ${fmtDuration(progress.eta_s)}`);
  return el("span", { class: "progress", "data-fraction": fraction.toFixed(3) },
    el("span", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(100 * fraction)) },
      el("span", { style: `width:${(100 * fraction).toFixed(1)}%` })),
    el("span", { class: "text" }, text.join(" · ")));
}

export function notice(container, message, kind = "") {
  container.replaceChildren(message ? el("div", { class: `notice ${kind}`, role: "status" }, message) : "");
}

/** Keep `node`'s children as `children` without replacing it (no layout jump). */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

export const TERMINAL = new Set(["succeeded", "failed", "cancelled", "stopped"]);

/** Save `text` as a file called `name` (a CSV fetched with the cookie). */
export function saveText(text, name, type = "text/csv") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = el("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Training examples per epoch of a spec, as core.plots.comparison.Pace reads them. */
export function pace(spec) {
  const dataset = spec.dataset;
  let examples;
  let batch = dataset.batch_size;
  if (dataset.name === "linear") examples = dataset.num_points;
  else if (dataset.steps_per_epoch) { examples = dataset.steps_per_epoch; batch = 1; } // a test problem
  else {
    const available = page.config.train_sizes[dataset.name] - (dataset.validation_size || 0);
    examples = Math.min(dataset.train_limit || available, available);
  }
  const stepsPerEpoch = Math.ceil(examples / batch);
  return {
    stepsPerEpoch,
    /** The step at which the x axis `axis` reads `x` (the inverse of `xAt`, rounded up). */
    stepAt: (x, axis) => axis === "epoch" ? Math.ceil(x * stepsPerEpoch)
      : axis === "examples" ? Math.ceil((x / examples) * stepsPerEpoch) : Math.ceil(x),
    xAt: (step, axis) => axis === "epoch" ? step / stepsPerEpoch
      : axis === "examples" ? Math.floor(step / stepsPerEpoch) * examples + Math.min(examples, (step % stepsPerEpoch) * batch)
      : step,
    epochAt: (step) => step / stepsPerEpoch,
    examplesAt: (step) => {
      const epochs = Math.floor(step / stepsPerEpoch);
      const within = step - epochs * stepsPerEpoch;
      return epochs * examples + Math.min(examples, within * batch);
    },
  };
}

/** The bias-corrected EMA of core.plots.smoothing.ema (gaps stay gaps). */
export function ema(values, factor) {
  if (!factor) return values;
  let average = 0;
  let weight = 0;
  return values.map((value) => {
    if (value === null || !Number.isFinite(value)) return null;
    average = factor * average + (1 - factor) * value;
    weight = factor * weight + (1 - factor);
    return average / weight;
  });
}

export function smoothable(name) {
  return page.config.metrics[name]?.per === "iteration" && name !== "lr";
}
