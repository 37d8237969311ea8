// flowcore web UI: SVG charts.
//   scatterChart (flow run durations) · layoutGraph + graphChart (task graph) · timelineChart (Gantt)

import { errorInline } from './render.js';
import {
  escape, flowRunHref, fmtClock, fmtDuration, fmtTime, isFinal, pad, parseTs, runDuration, spanSeconds, stateType,
  taskRunHref, truncate,
} from './util.js';

const GRAPH = { W: 200, H: 44, colGap: 24, layerGap: 64, rowGap: 14, maxRows: 16, pad: 16 };

const TIME_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 250, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5,
  6e5, 9e5, 18e5, 36e5, 72e5, 108e5, 216e5, 432e5, 864e5, 1728e5, 6048e5];

// Round time ticks between t0 and t1 (ms), aligned on local wall-clock boundaries.
function timeTicks(t0, t1, maxTicks) {
  const span = Math.max(1, t1 - t0);
  const n = Math.max(2, maxTicks);
  const step = TIME_STEPS.find((s) => span / s <= n) ?? Math.ceil(span / n / 864e5) * 864e5;
  const tz = new Date(t0).getTimezoneOffset() * 6e4;
  const ticks = [];
  for (let t = Math.ceil((t0 - tz) / step) * step + tz; t <= t1 && ticks.length < 200; t += step) ticks.push(t);
  return { ticks, step };
}

function fmtTick(t, step) {
  if (step < 1000) return fmtClock(t, true);
  if (step < 6e4) return fmtClock(t);
  const d = new Date(t);
  if (step < 864e5) {
    const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    return d.getHours() === 0 && d.getMinutes() === 0
      ? d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) : hm;
  }
  return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

// A round step for a duration axis (seconds): 1-2-5 below a minute, clock-like above.
const DURATION_STEPS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
function niceStep(raw) {
  if (raw > 30) return DURATION_STEPS.find((s) => s >= raw) ?? Math.ceil(raw / 86400) * 86400;
  const exp = Math.floor(Math.log10(raw));
  const f = raw / 10 ** exp;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * 10 ** exp;
}

// Scatter of runs: x = start time, y = duration, colour = state type, click → run page.
export function scatterChart(runs, width) {
  const H = 220;
  const m = { l: 60, r: 18, t: 14, b: 30 };
  const pts = runs.map((r) => ({ r, x: parseTs(r.start_time), y: runDuration(r) ?? 0 })).filter((p) => p.x != null);
  const head = `<svg class="scatter" data-testid="scatter" width="${width}" height="${H}" viewBox="0 0 ${width} ${H}" role="img" aria-label="Flow run durations">`;
  if (!pts.length) {
    return `${head}<text class="chart-empty" x="${width / 2}" y="${H / 2}" text-anchor="middle">No started runs on this page</text></svg>`;
  }
  let x0 = Math.min(...pts.map((p) => p.x));
  let x1 = Math.max(...pts.map((p) => p.x));
  if (x1 - x0 < 60e3) { const mid = (x0 + x1) / 2; x0 = mid - 30e3; x1 = mid + 30e3; }
  const padX = (x1 - x0) * 0.04;
  x0 -= padX; x1 += padX;
  const yMaxRaw = Math.max(...pts.map((p) => p.y));
  const yStep = yMaxRaw > 0 ? niceStep(yMaxRaw / 4) : 1;
  const yMax = yStep * Math.max(1, Math.ceil(yMaxRaw / yStep));
  const pw = width - m.l - m.r;
  const ph = H - m.t - m.b;
  const sx = (t) => m.l + ((t - x0) / (x1 - x0)) * pw;
  const sy = (v) => m.t + ph - (v / yMax) * ph;
  let svg = head;
  for (let v = 0; v <= yMax + yStep / 2; v += yStep) {
    const y = sy(v).toFixed(1);
    svg += `<line class="grid" x1="${m.l}" x2="${width - m.r}" y1="${y}" y2="${y}"/>` +
      `<text class="axis-label" x="${m.l - 8}" y="${y}" dy="0.32em" text-anchor="end">${escape(fmtDuration(v))}</text>`;
  }
  const { ticks, step } = timeTicks(x0, x1, Math.floor(pw / 110));
  for (const t of ticks) {
    svg += `<text class="axis-label" x="${sx(t).toFixed(1)}" y="${H - 10}" text-anchor="middle">${escape(fmtTick(t, step))}</text>`;
  }
  svg += `<line class="axis" x1="${m.l}" x2="${width - m.r}" y1="${m.t + ph}" y2="${m.t + ph}"/>`;
  for (const { r, x, y } of pts) {
    const tip = `${r.flow_name} › ${r.name}\n${r.state ? r.state.name : 'No state'} · ${fmtDuration(y)}\n${fmtTime(r.start_time)}`;
    svg += `<a href="${flowRunHref(r.id)}"><circle class="dot st-${stateType(r.state)}" data-testid="scatter-point" ` +
      `cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="6"><title>${escape(tip)}</title></circle></a>`;
  }
  return `${svg}</svg>`;
}

// Layered DAG layout: longest-path layers left→right, barycenter sweeps to reduce crossings,
// layers taller than GRAPH.maxRows wrap into extra columns (so wide fan-outs scroll sideways).
function layoutGraph(nodes, edges) {
  const index = new Map(nodes.map((nd, i) => [nd.id, i]));
  const merged = new Map();
  for (const e of edges || []) {
    const s = index.get(e.source);
    const t = index.get(e.target);
    if (s === undefined || t === undefined || s === t) continue;
    const link = merged.get(`${s}>${t}`) || { s, t, params: [], waitOnly: true };
    if (e.parameter && !link.params.includes(e.parameter)) link.params.push(e.parameter);
    if (e.kind !== 'wait_for') link.waitOnly = false;
    merged.set(`${s}>${t}`, link);
  }
  const links = [...merged.values()];
  const n = nodes.length;
  const preds = Array.from({ length: n }, () => []);
  const succs = Array.from({ length: n }, () => []);
  for (const l of links) { preds[l.t].push(l.s); succs[l.s].push(l.t); }

  // Longest path from the sources (Kahn order); nodes caught in a cycle keep the layer reached so far.
  const layer = new Array(n).fill(0);
  const indeg = preds.map((p) => p.length);
  const queue = [];
  for (let i = 0; i < n; i++) if (!indeg[i]) queue.push(i);
  for (let qi = 0; qi < queue.length; qi++) {
    const u = queue[qi];
    for (const v of succs[u]) {
      layer[v] = Math.max(layer[v], layer[u] + 1);
      if (--indeg[v] === 0) queue.push(v);
    }
  }
  const depth = n ? Math.max(...layer) + 1 : 0;
  const layers = Array.from({ length: depth }, () => []);
  for (let i = 0; i < n; i++) layers[layer[i]].push(i); // creation order to start with

  const pos = new Float64Array(n);
  const place = (L) => L.forEach((v, i) => { pos[v] = (i + 0.5) / L.length; });
  layers.forEach(place);
  const sweep = (L, nbrs) => {
    const bary = new Map(L.map((v) => [v, nbrs[v].length
      ? nbrs[v].reduce((a, u) => a + pos[u], 0) / nbrs[v].length : pos[v]]));
    L.sort((a, b) => bary.get(a) - bary.get(b)); // stable: ties keep their order
    place(L);
  };
  for (let it = 0; it < 4; it++) {
    for (let i = 1; i < depth; i++) sweep(layers[i], preds);
    for (let i = depth - 2; i >= 0; i--) sweep(layers[i], succs);
  }

  const { W, H, colGap, layerGap, rowGap, maxRows, pad: P } = GRAPH;
  // A wrapped layer is filled row by row, so its order still runs top to bottom.
  const shape = (L) => { const cols = Math.ceil(L.length / maxRows); return { cols, rows: Math.ceil(L.length / cols) }; };
  const totalRows = Math.max(1, ...layers.map((L) => shape(L).rows));
  const xy = new Array(n);
  let x = P;
  for (const L of layers) {
    const { cols, rows } = shape(L);
    const yOff = ((totalRows - rows) * (H + rowGap)) / 2;
    L.forEach((v, i) => {
      const col = i % cols;
      xy[v] = { x: x + col * (W + colGap), y: P + yOff + Math.floor(i / cols) * (H + rowGap), col, cols, left: x };
    });
    x += cols * W + (cols - 1) * colGap;
    for (const v of L) xy[v].right = x;
    x += layerGap;
  }
  return { xy, links, width: x - layerGap + P, height: 2 * P + totalRows * H + (totalRows - 1) * rowGap };
}

// Edge path. In a wrapped layer an edge leaving a node that is not in the last sub-column (or
// entering one not in the first) runs along the gap between rows, not through sibling nodes.
function edgePath(a, b) {
  const { W, H, colGap, rowGap } = GRAPH;
  let x = a.x + W;
  let y = a.y + H / 2;
  let d = `M${x},${y}`;
  if (a.col < a.cols - 1) {
    const lane = a.y + H + rowGap / 2;
    d += ` C${x + colGap * 0.7},${y} ${x + colGap * 0.3},${lane} ${x + colGap},${lane} H${a.right}`;
    x = a.right;
    y = lane;
  }
  const x2 = b.x - 1;
  const y2 = b.y + H / 2;
  const ex = b.col > 0 ? b.left : x2;
  const ey = b.col > 0 ? b.y - rowGap / 2 : y2;
  const dx = Math.max(24, Math.abs(ex - x) / 2);
  d += ` C${x + dx},${y} ${ex - dx},${ey} ${ex},${ey}`;
  if (b.col > 0) {
    d += ` H${b.x - colGap} C${b.x - colGap * 0.3},${ey} ${b.x - colGap * 0.7},${y2} ${x2},${y2}`;
  }
  return d;
}

export function graphChart(graph) {
  if (graph.error) return errorInline(graph.error);
  const nodes = graph.nodes || [];
  if (!nodes.length) return '<p class="muted graph-empty">No task runs</p>';
  const { xy, links, width, height } = layoutGraph(nodes, graph.edges);
  const { W, H } = GRAPH;
  let svg = `<svg class="graph-svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="Task graph">
      <defs><marker id="fc-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="8" markerHeight="8" orient="auto">
      <path d="M0,0 L10,5 L0,10 z" class="arrow-head"/></marker></defs>`;
  for (const l of links) {
    const tip = `${nodes[l.s].name} → ${nodes[l.t].name}${l.params.length ? ` (${l.params.join(', ')})` : ''}${l.waitOnly ? ' · wait_for' : ''}`;
    svg += `<path class="graph-edge${l.waitOnly ? ' wait-for' : ''}" d="${edgePath(xy[l.s], xy[l.t])}" marker-end="url(#fc-arrow)"><title>${escape(tip)}</title></path>`;
  }
  nodes.forEach((nd, i) => {
    const { x, y } = xy[i];
    const sub = nd.kind === 'subflow';
    const href = sub && nd.subflow_run_id ? flowRunHref(nd.subflow_run_id) : taskRunHref(nd.id);
    const dur = spanSeconds(nd.start_time, nd.end_time, nd.state);
    const detail = `${sub ? 'Subflow · ' : ''}${nd.state ? nd.state.name : 'No state'}${dur != null ? ` · ${fmtDuration(dur)}` : ''}`;
    svg += `<a href="${href}"><g class="graph-node st-${stateType(nd.state)}${sub ? ' subflow' : ''}" data-testid="graph-node" ` +
      `data-node-id="${escape(nd.id)}" data-kind="${sub ? 'subflow' : 'task'}" transform="translate(${x},${y})">` +
      `<title>${escape(`${nd.name}\n${detail}`)}</title>` +
      `<rect class="graph-node-box" width="${W}" height="${H}" rx="8"/>` +
      `<circle class="graph-node-dot" cx="15" cy="${H / 2}" r="5"/>` +
      `<text class="graph-node-name" x="28" y="19">${escape(truncate(String(nd.name ?? ''), 23))}</text>` +
      `<text class="graph-node-sub" x="28" y="34">${escape(truncate(detail, 28))}</text></g></a>`;
  });
  return `${svg}</svg>`;
}

// Gantt chart: one bar per task run on a shared time axis; unfinished runs extend to now.
export function timelineChart(run, tasks, width) {
  if (tasks.error) return errorInline(tasks.error);
  if (!tasks.length) return '<p class="muted">No task runs</p>';
  const now = Date.now();
  const rows = tasks.map((t) => {
    const s = parseTs(t.start_time);
    const e = parseTs(t.end_time) ?? (s != null ? (isFinal(t.state) ? s : now) : null);
    return { t, s, e };
  });
  const starts = rows.filter((r) => r.s != null);
  if (!starts.length) return '<p class="muted">No task run has started yet.</p>';
  let t0 = Math.min(...starts.map((r) => r.s));
  let t1 = Math.max(...starts.map((r) => r.e));
  const rs = parseTs(run.start_time);
  if (rs != null) t0 = Math.min(t0, rs);
  const re = parseTs(run.end_time) ?? (isFinal(run.state) ? null : now);
  if (re != null) t1 = Math.max(t1, re);
  if (t1 - t0 < 10) t1 = t0 + 10;
  const labelW = 190;
  const rowH = 22;
  const axisH = 24;
  const plotW = Math.max(200, width - labelW - 20);
  const H = axisH + rows.length * rowH + 6;
  const sx = (t) => labelW + ((t - t0) / (t1 - t0)) * plotW;
  let svg = `<svg class="timeline-svg" width="${labelW + plotW + 12}" height="${H}" role="img" aria-label="Task run timeline">`;
  const { ticks, step } = timeTicks(t0, t1, Math.floor(plotW / 100));
  for (const t of ticks) {
    const x = sx(t).toFixed(1);
    svg += `<line class="grid" x1="${x}" x2="${x}" y1="${axisH - 4}" y2="${H}"/>` +
      `<text class="axis-label" x="${x}" y="${axisH - 10}" text-anchor="middle">${escape(fmtTick(t, step))}</text>`;
  }
  rows.forEach(({ t, s, e }, i) => {
    const y = axisH + i * rowH;
    const href = t.subflow_run_id ? flowRunHref(t.subflow_run_id) : taskRunHref(t.id);
    svg += `<a href="${href}"><text class="timeline-label${s == null ? ' muted-text' : ''}" x="${labelW - 10}" y="${y + rowH / 2}" dy="0.32em" text-anchor="end">${escape(truncate(t.name, 26))}</text></a>`;
    if (s == null) return;
    const x = sx(s);
    const w = Math.max(2, sx(e) - x);
    const tip = `${t.name}\n${t.state ? t.state.name : 'No state'} · ${fmtDuration((e - s) / 1000)}`;
    svg += `<a href="${href}"><rect class="bar st-${stateType(t.state)}${t.subflow_run_id ? ' subflow' : ''}${isFinal(t.state) ? '' : ' running'}" ` +
      `data-testid="timeline-bar" x="${x.toFixed(1)}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" rx="3"><title>${escape(tip)}</title></rect></a>`;
  });
  return `${svg}</svg>`;
}
