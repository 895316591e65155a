// syncline console: a page over the admin API (/api/v1). Everything it
// shows comes from the API; text is only ever set with textContent.
"use strict";

const TOKEN_KEY = "syncline.token";
const $ = (id) => document.getElementById(id);
let sources = [];

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

class Unauthorized extends Error {}

async function api(path, opts = {}) {
  const headers = { "Accept": "application/json" };
  if (token()) headers["Authorization"] = "Bearer " + token();
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method: opts.method || "GET",
    headers,
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  });
  if (resp.status === 401) throw new Unauthorized("token required");
  let data = null;
  try { data = await resp.json(); } catch (e) { /* not JSON */ }
  if (!resp.ok) throw new Error((data && data.error) || (resp.status + " " + resp.statusText));
  return data;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    if (c instanceof Node) { const td = document.createElement("td"); td.appendChild(c); tr.appendChild(td); }
    else if (c && typeof c === "object") { tr.appendChild(el("td", c.text, c.cls)); }
    else tr.appendChild(el("td", c));
  }
  return tr;
}

function fill(tableId, rows) {
  const tb = $(tableId).querySelector("tbody");
  tb.replaceChildren(...rows);
}

const num = (v, digits = 0) => ({ text: (v === undefined || v === null || v < 0) ? "–" : Number(v).toLocaleString(undefined, { maximumFractionDigits: digits }), cls: "num" });

function bytes(v) {
  if (v === undefined || v === null) return { text: "–", cls: "num" };
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return { text: v.toFixed(i ? 1 : 0) + " " + u[i], cls: "num" };
}

function duration(secs) {
  if (!isFinite(secs) || secs < 0) return "–";
  if (secs < 60) return Math.round(secs) + "s";
  if (secs < 3600) return Math.floor(secs / 60) + "m" + String(Math.round(secs % 60)).padStart(2, "0") + "s";
  return Math.floor(secs / 3600) + "h" + String(Math.floor((secs % 3600) / 60)).padStart(2, "0") + "m";
}

function showError(msg) { $("error").textContent = msg || ""; }

function renderStatus(st) {
  let allReady = st.components.length > 0;
  sources = [];
  fill("components", st.components.map((c) => {
    allReady = allReady && c.ready;
    if (c.detail && c.detail.source) sources.push(c.detail.source);
    const state = c.ready ? "ready" : "not ready" + (c.not_ready ? " (" + c.not_ready + ")" : "");
    return row([c.name, { text: state, cls: c.ready ? "state-ready" : "state-not-ready" }]);
  }));
  const pill = $("overall");
  pill.textContent = allReady ? "all ready" : "not ready";
  pill.className = "pill " + (allReady ? "ok" : "bad");

  const sel = $("bf-source");
  const cur = sel.value;
  if (sel.options.length !== sources.length || [...sel.options].some((o, i) => o.value !== sources[i])) {
    sel.replaceChildren(...sources.map((s) => { const o = el("option", s); o.value = s; return o; }));
    if (sources.includes(cur)) sel.value = cur;
  }

  const p = st.stats || { sources: {}, stages: {}, sinks: {} };
  fill("sources", Object.keys(p.sources || {}).sort().map((k) => {
    const s = p.sources[k];
    return row([k, num(s.events_per_sec, 1), num(s.events_total), bytes(s.lag_bytes)]);
  }));
  fill("stages", Object.keys(p.stages || {}).sort().map((k) => row([k, num(p.stages[k].lag_records)])));
  fill("sinks", Object.keys(p.sinks || {}).sort().map((k) => {
    const s = p.sinks[k];
    const pct = { text: (s.success_rate * 100).toFixed(2) + "%", cls: "num" + (s.success_rate < 0.99 ? " state-failed" : "") };
    return row([k, num(s.writes_per_sec, 1), num(s.writes_total), num(s.errors_total), pct,
      { text: s.latency_p95_seconds < 0 ? "–" : s.latency_p95_seconds.toFixed(3) + "s", cls: "num" }]);
  }));

  const bfs = [];
  for (const c of st.components) {
    if (!c.detail || !c.detail.backfills) continue;
    for (const bf of c.detail.backfills) bfs.push(Object.assign({ source: c.detail.source }, bf));
  }
  renderBackfills(bfs);
}

function renderBackfills(bfs) {
  $("no-backfills").hidden = bfs.length > 0;
  const now = Date.now();
  fill("backfill-table", bfs.map((bf) => {
    const started = Date.parse(bf.started_at);
    const end = bf.state === "running" ? now : Date.parse(bf.updated_at);
    const secs = (end - started) / 1000;
    const rate = secs > 0 ? bf.rows / secs : 0;
    const total = Math.max(bf.estimate || 0, bf.rows);
    const prog = el("progress");
    prog.max = total || 1;
    prog.value = bf.state === "done" ? prog.max : bf.rows;
    const pct = bf.state === "done" ? 100 : (total ? Math.min(100, 100 * bf.rows / total) : 0);
    const progCell = document.createElement("span");
    progCell.append(prog, " " + pct.toFixed(0) + "%");
    const eta = bf.state === "running" && rate > 0 && total > bf.rows ? duration((total - bf.rows) / rate) : "–";
    const actions = document.createElement("span");
    const act = (label, action) => {
      const b = el("button", label);
      b.type = "button";
      b.dataset.action = action;
      b.addEventListener("click", () => steer(bf, action));
      actions.appendChild(b);
    };
    if (bf.state === "running") { act("Pause", "pause"); act("Cancel", "cancel"); }
    if (bf.state === "paused") { act("Resume", "resume"); act("Cancel", "cancel"); }
    const tr = row([bf.source, bf.id, bf.table, { text: bf.state, cls: "state-" + bf.state }, progCell, num(bf.rows), num(rate, 0), eta, actions]);
    tr.dataset.backfill = bf.id;
    tr.dataset.table = bf.table;
    tr.dataset.state = bf.state;
    return tr;
  }));
}

async function steer(bf, action) {
  try {
    await api("/api/v1/backfills/" + encodeURIComponent(bf.id) + "/" + action, { method: "POST", body: { source: bf.source } });
    $("bf-result").textContent = action + " sent to " + bf.id;
  } catch (e) { handle(e); }
}

async function startBackfill(ev) {
  ev.preventDefault();
  const tables = $("bf-tables").value.split(",").map((s) => s.trim()).filter(Boolean);
  const body = { source: $("bf-source").value, tables, where: $("bf-where").value.trim() };
  const chunk = parseInt($("bf-chunk").value, 10);
  if (chunk > 0) body.chunk_size = chunk;
  $("bf-result").textContent = "";
  try {
    const res = await api("/api/v1/backfills", { method: "POST", body });
    $("bf-result").textContent = "backfill " + res.signal.id + " requested";
    refresh();
  } catch (e) {
    if (e instanceof Unauthorized) return handle(e);
    $("bf-result").textContent = "error: " + e.message;
  }
}

function renderDLQ(entries) {
  $("no-dlq").hidden = entries.length > 0;
  fill("dlq-table", entries.map((e) => {
    let action;
    if (e.replayed) action = el("span", "replayed " + new Date(e.replayed.at).toLocaleString(), "muted");
    else if (e.replayable) {
      action = el("button", "Replay");
      action.type = "button";
      action.addEventListener("click", () => replay([e.offset]));
    } else action = el("span", e.hint, "muted");
    const from = e.topic + (e.partition !== undefined && e.partition !== null ? "/" + e.partition : "") + (e.source_offset !== undefined && e.source_offset !== null ? "@" + e.source_offset : "");
    const tr = row([String(e.offset), new Date(e.time).toLocaleString(), e.stage, e.reason, from, { text: e.error, cls: "err" }, action]);
    tr.dataset.offset = String(e.offset);
    tr.dataset.replayed = e.replayed ? "true" : "false";
    return tr;
  }));
}

async function replay(offsets) {
  try {
    const res = await api("/api/v1/dlq/replay", { method: "POST", body: offsets ? { offsets } : {} });
    const failed = res.results.filter((r) => r.error);
    $("dlq-result").textContent = "replayed " + res.replayed + (failed.length ? "; not replayed: " + failed.map((r) => "#" + r.offset + " " + r.error).join("; ") : "");
    refreshDLQ();
  } catch (e) { handle(e); }
}

function renderReviews(items) {
  $("no-reviews").hidden = items.length > 0;
  fill("review-table", items.map((r) => {
    let current = r.current === undefined || r.current === null ? "null" : r.current;
    let change = r.value === undefined || r.value === null ? "null" : r.value;
    if (r.pair) {
      current = r.pair.a + " (" + r.pair.entity_a + ")";
      change = "same as " + r.pair.b + " (" + r.pair.entity_b + "), score " + r.pair.score.toFixed(2);
    } else if (r.source) change += " from " + r.source + ":" + r.key;
    let action;
    if (r.status === "pending") {
      action = document.createElement("span");
      for (const [label, verb] of [["Approve", "approve"], ["Reject", "reject"]]) {
        const b = el("button", label);
        b.type = "button";
        b.dataset.action = verb;
        b.addEventListener("click", () => decide(r.id, verb, b));
        action.appendChild(b);
      }
    } else action = el("span", (r.decided_by ? "by " + r.decided_by + " " : "") + (r.outcome || ""), "muted");
    const tr = row([new Date(r.created_ms).toLocaleString(), r.entity + " " + r.entity_id, r.kind, r.field || "–", current, change, r.reason, r.status, action]);
    tr.dataset.review = r.id;
    tr.dataset.status = r.status;
    return tr;
  }));
}

async function decide(id, verb, button) {
  button.disabled = true;
  $("review-result").textContent = verb + "…";
  try {
    const r = await api("/api/v1/reviews/" + encodeURIComponent(id) + "/" + verb, { method: "POST", body: { by: "console" } });
    $("review-result").textContent = verb + "d " + id.slice(0, 12) + ": " + r.status + (r.outcome ? " (" + r.outcome + ")" : "");
    refreshReviews();
  } catch (e) {
    if (e instanceof Unauthorized) return handle(e);
    button.disabled = false;
    $("review-result").textContent = "error: " + e.message;
  }
}

async function refreshReviews() {
  try {
    const q = $("reviews-show-decided").checked ? "?status=all" : "?status=pending";
    const res = await api("/api/v1/reviews" + q);
    $("reviews").hidden = false;
    renderReviews(res.reviews);
  } catch (e) {
    if (e instanceof Unauthorized) return handle(e);
    if (e.message.includes("no entities are configured")) { $("reviews").hidden = true; return; }
    $("review-result").textContent = "reviews: " + e.message;
  }
}

async function showAudit(ev) {
  ev.preventDefault();
  const q = new URLSearchParams({ sink: $("audit-sink").value.trim(), table: $("audit-table").value.trim() });
  const key = $("audit-key").value.trim();
  if (key) q.set("key", key);
  $("audit-result").textContent = "";
  try {
    const res = await api("/api/v1/audit?" + q.toString());
    $("audit-result").textContent = res.entries.length + " writes";
    fill("audit-table-out", res.entries.map((e) => row([
      new Date(e.written_at).toLocaleString(), e.key_text, e.operation, e.source_op, e.source_position,
      e.source_committed_at ? new Date(e.source_committed_at).toLocaleString() : "–",
      e.kafka_topic + "/" + e.kafka_partition + "@" + e.kafka_offset,
    ])));
  } catch (e) {
    if (e instanceof Unauthorized) return handle(e);
    $("audit-result").textContent = "error: " + e.message;
  }
}

function drawChart(svgId, legendId, series, unit) {
  const svg = $(svgId);
  const W = 600, H = 160, L = 44, B = 18, T = 6;
  const ns = "http://www.w3.org/2000/svg";
  const mk = (tag, attrs) => { const e = document.createElementNS(ns, tag); for (const k in attrs) e.setAttribute(k, attrs[k]); return e; };
  const all = series.flatMap((s) => s.points);
  const tmin = Math.min(...all.map((p) => p.t)), tmax = Math.max(...all.map((p) => p.t));
  let vmax = Math.max(0, ...all.map((p) => p.v));
  if (vmax === 0) vmax = 1;
  const x = (t) => L + (tmax > tmin ? (t - tmin) / (tmax - tmin) : 1) * (W - L - 4);
  const y = (v) => T + (1 - v / vmax) * (H - T - B);
  const kids = [mk("line", { x1: L, y1: H - B, x2: W, y2: H - B, class: "axis" }), mk("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" })];
  const lbl = (txt, ax, ay, anchor) => { const t = mk("text", { x: ax, y: ay, "text-anchor": anchor }); t.textContent = txt; return t; };
  kids.push(lbl(vmax.toPrecision(3) + unit, L - 4, T + 8, "end"), lbl("0", L - 4, H - B, "end"));
  const colors = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2"];
  const legend = [];
  series.forEach((s, i) => {
    if (!s.points.length) return;
    const d = s.points.map((p, j) => (j ? "L" : "M") + x(p.t).toFixed(1) + " " + y(p.v).toFixed(1)).join(" ");
    kids.push(mk("path", { d, fill: "none", stroke: colors[i % colors.length], "stroke-width": 1.5, "data-series": s.name }));
    const sw = el("span", "■ " + s.name);
    sw.style.color = colors[i % colors.length];
    legend.push(sw);
  });
  svg.replaceChildren(...kids);
  $(legendId).replaceChildren(...legend);
}

function renderStats(points) {
  const thr = {}, lat = {};
  for (const p of points) {
    const t = Date.parse(p.time);
    for (const [k, s] of Object.entries(p.sources || {})) (thr["source " + k] ||= []).push({ t, v: s.events_per_sec });
    for (const [k, s] of Object.entries(p.sinks || {})) {
      (thr["sink " + k] ||= []).push({ t, v: s.writes_per_sec });
      if (s.latency_p95_seconds >= 0) (lat["sink " + k] ||= []).push({ t, v: s.latency_p95_seconds });
    }
  }
  const toSeries = (m) => Object.keys(m).sort().map((name) => ({ name, points: m[name] }));
  drawChart("chart-throughput", "legend-throughput", toSeries(thr), "");
  drawChart("chart-latency", "legend-latency", toSeries(lat), "s");
}

function handle(e) {
  if (e instanceof Unauthorized) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin(token() ? "" : "");
    return;
  }
  showError(e.message);
}

let timers = [];
function showLogin(msg) {
  timers.forEach(clearInterval);
  timers = [];
  $("app").hidden = true;
  $("login").hidden = false;
  $("logout").hidden = true;
  $("login-error").textContent = msg || "";
  $("overall").textContent = "signed out";
  $("overall").className = "pill";
}

async function refresh() {
  try {
    const [st, stats] = await Promise.all([api("/api/v1/status"), api("/api/v1/stats")]);
    showError("");
    renderStatus(st);
    renderStats(stats.points);
  } catch (e) { handle(e); }
}

async function refreshDLQ() {
  try {
    const q = $("dlq-show-replayed").checked ? "?replayed=1" : "";
    const res = await api("/api/v1/dlq" + q);
    renderDLQ(res.entries);
  } catch (e) {
    if (e instanceof Unauthorized) return handle(e);
    $("dlq-result").textContent = "DLQ: " + e.message;
  }
}

async function start() {
  try {
    await api("/api/v1/status");
  } catch (e) {
    if (e instanceof Unauthorized) { showLogin(token() ? "wrong token" : ""); return; }
  }
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = !token();
  refresh();
  refreshDLQ();
  refreshReviews();
  timers.push(setInterval(refresh, 2000), setInterval(refreshDLQ, 5000), setInterval(refreshReviews, 3000));
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value);
    $("token").value = "";
    start();
  });
  $("logout").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); showLogin(""); });
  $("backfill-form").addEventListener("submit", startBackfill);
  $("dlq-replay-all").addEventListener("click", () => replay(null));
  $("dlq-show-replayed").addEventListener("change", refreshDLQ);
  $("reviews-show-decided").addEventListener("change", refreshReviews);
  $("audit-form").addEventListener("submit", showAudit);
  start();
});
