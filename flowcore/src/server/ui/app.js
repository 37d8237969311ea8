// flowcore web UI: plain ES2020, no dependencies, no build step.
// The server embeds this file and serves it at /ui/app.js (index at /, styles at /ui/style.css).
//
// Layout of this file:
//   constants · helpers (escape, formatting) · api() · shared renderers (badges, logs, states)
//   charts (scatterChart, layoutGraph + graphChart, timelineChart)
//   pages (FlowRunsPage, FlowRunPage, TaskRunPage, FlowsPage, DeploymentsPage, DeploymentPage,
//   WorkQueuesPage) · router + refresh loop
(() => {
  'use strict';

  // ---------------------------------------------------------------- constants

  const FINAL_TYPES = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED']);
  const STATE_TYPES = ['SCHEDULED', 'PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED'];
  const STATE_NAMES = ['Scheduled', 'Late', 'AwaitingRetry', 'Pending', 'Running', 'Retrying', 'Completed',
    'Cached', 'Failed', 'UpstreamFailed', 'Cancelled', 'Crashed'];
  const NAME_TYPE = {
    Scheduled: 'SCHEDULED', Late: 'SCHEDULED', AwaitingRetry: 'SCHEDULED', Pending: 'PENDING',
    Running: 'RUNNING', Retrying: 'RUNNING', Completed: 'COMPLETED', Cached: 'COMPLETED', Failed: 'FAILED',
    UpstreamFailed: 'CANCELLED', Cancelled: 'CANCELLED', Crashed: 'CRASHED',
  };
  const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARNING', 'ERROR'];
  const PAGE_SIZE = 50;
  const FAST_REFRESH_MS = 2000;
  const SLOW_REFRESH_MS = 10000;
  // [query key, label, key in /api/filters]
  const MULTI_FILTERS = [
    ['state', 'States', 'states'], ['flow', 'Flows', 'flows'], ['deployment', 'Deployments', 'deployments'],
    ['work_queue', 'Work queues', 'work_queues'], ['tag', 'Tags', 'tags'],
  ];
  const GRAPH = { W: 200, H: 44, colGap: 24, layerGap: 64, rowGap: 14, maxRows: 16, pad: 16 };

  // ---------------------------------------------------------------- helpers

  const enc = encodeURIComponent;

  function escape(value) {
    return String(value ?? '').replace(/[&<>"']/g, (c) =>
      ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
  }

  // Replace an element's content only when the markup changed, so a refresh that brings nothing
  // new leaves hover, tooltips, selection and scroll positions alone.
  function setHTML(el, html) {
    if (el && el._html !== html) {
      el.innerHTML = html;
      el._html = html;
    }
  }

  const pad = (n, width = 2) => String(n).padStart(width, '0');
  const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
  const truncate = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
  const listParam = (q, key) => (q.get(key) || '').split(',').filter(Boolean);

  // Accepts RFC 3339 with any number of fraction digits; returns epoch ms or null.
  function parseTs(ts) {
    if (ts == null || ts === '') return null;
    const t = Date.parse(String(ts).replace(/(\.\d{3})\d+/, '$1'));
    return Number.isNaN(t) ? null : t;
  }

  const DATE_TIME_FMT = { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' };
  function fmtTime(ts) {
    const t = parseTs(ts);
    return t == null ? '—' : new Date(t).toLocaleString(undefined, DATE_TIME_FMT);
  }

  // Short form for tables: "Nov 27, 07:44" (the full time goes in a tooltip).
  const SHORT_FMT = { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' };
  function fmtShort(ts) {
    const t = parseTs(ts);
    return t == null ? '—' : new Date(t).toLocaleString(undefined, SHORT_FMT);
  }

  function fmtClock(ms, millis = false) {
    if (ms == null) return '—';
    const d = new Date(ms);
    const s = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    return millis ? `${s}.${pad(d.getMilliseconds(), 3)}` : s;
  }

  function fmtDuration(seconds) {
    if (seconds == null || !Number.isFinite(seconds)) return '—';
    const s = Math.max(0, seconds);
    if (s === 0) return '0s';
    if (s < 0.001) return '<1ms';
    if (s < 1) return `${Math.round(s * 1000)}ms`;
    if (s < 10) return `${(Math.floor(s * 10) / 10).toFixed(1)}s`;
    if (s < 60) return `${Math.floor(s)}s`;
    const t = Math.floor(s);
    const two = (a, ua, b, ub) => `${a}${ua}${b ? ` ${b}${ub}` : ''}`;
    if (t < 3600) return two(Math.floor(t / 60), 'm', t % 60, 's');
    if (t < 86400) return two(Math.floor(t / 3600), 'h', Math.floor((t % 3600) / 60), 'm');
    return two(Math.floor(t / 86400), 'd', Math.floor((t % 86400) / 3600), 'h');
  }

  function fmtAgo(ts) {
    const t = parseTs(ts);
    if (t == null) return '—';
    const d = (Date.now() - t) / 1000;
    if (Math.abs(d) < 5) return 'just now';
    const text = fmtDuration(Math.abs(d)).split(' ')[0];
    return d > 0 ? `${text} ago` : `in ${text}`;
  }

  // <input type="datetime-local"> value (local wall time) <-> RFC 3339 (UTC) kept in the hash.
  function toLocalInput(iso) {
    const t = parseTs(iso);
    if (t == null) return '';
    const d = new Date(t);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }
  function fromLocalInput(value) {
    const d = value ? new Date(value) : null;
    return d && !Number.isNaN(d.getTime()) ? d.toISOString() : '';
  }

  const stateType = (state) => (state && STATE_TYPES.includes(state.type) ? state.type : 'NONE');
  const isFinal = (state) => !!state && FINAL_TYPES.has(state.type);
  const isFailure = (state) => !!state && (state.type === 'FAILED' || state.type === 'CRASHED');

  // Seconds between start and end; an unfinished run counts up to now.
  function spanSeconds(start, end, state) {
    const s = parseTs(start);
    if (s == null) return null;
    const e = parseTs(end) ?? (isFinal(state) ? null : Date.now());
    return e == null ? null : Math.max(0, (e - s) / 1000);
  }
  const runDuration = (run) => run.duration_s ?? spanSeconds(run.start_time, run.end_time, run.state);

  const flowRunHref = (id) => `#/flow-runs/${enc(id)}`;
  const taskRunHref = (id) => `#/task-runs/${enc(id)}`;
  const flowHref = (name) => `#/flows/${enc(name)}`;
  const deploymentHref = (id) => `#/deployments/${enc(id)}`;
  const WORK_QUEUES_HREF = '#/work-queues';

  // Deployments seen in /api/deployments answers, by id: flow runs and the /api/filters list may
  // carry only a deployment's id, and the UI would rather show its name.
  const knownDeployments = new Map();
  function rememberDeployments(list) {
    for (const d of list || []) knownDeployments.set(d.id, { name: d.name, flow_name: d.flow_name });
  }
  // "name" of a flow run's deployment (full = "flow › name" when the flow run's flow is not known).
  function deploymentName(id, name, full = false) {
    const d = knownDeployments.get(id);
    if (name) return name;
    if (d) return full ? `${d.flow_name} › ${d.name}` : d.name;
    return id ? truncate(String(id), 13) : '';
  }

  // Fetch the deployment list when some of these ids have no name yet (at most every 30 s).
  let deploymentsLoadedAt = 0;
  async function loadDeploymentNames(ids) {
    if (!ids.some((id) => id && !knownDeployments.has(id)) || Date.now() - deploymentsLoadedAt < 30000) return;
    deploymentsLoadedAt = Date.now();
    try { rememberDeployments((await api('/deployments')).results); } catch (_) { /* ids stay as they are */ }
  }

  // A scheduled run that has not started: when it is expected to (null when it has started or has no time).
  const expectedStart = (run) => (!run.start_time && run.expected_start_time ? run.expected_start_time : null);
  // Worth a fast refresh: started and unfinished, or scheduled and already due.
  function isLive(run) {
    if (!run || isFinal(run.state)) return false;
    if (stateType(run.state) !== 'SCHEDULED') return true;
    const t = parseTs(run.expected_start_time);
    return t == null || t <= Date.now();
  }

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  const KEY_STORAGE = 'flowcore-api-key';

  function authHeaders(json) {
    const headers = { Accept: 'application/json' };
    if (json) headers['Content-Type'] = 'application/json';
    const key = window.localStorage.getItem(KEY_STORAGE);
    if (key) headers.Authorization = `Bearer ${key}`;
    return headers;
  }

  // One JSON request; errors become ApiError with the server's {"error": "..."} message.
  async function request(method, path, params, body) {
    let url = `/api${path}`;
    if (params) {
      const qs = Object.entries(params)
        .filter(([, v]) => v !== undefined && v !== null && v !== '')
        .map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
      if (qs) url += `?${qs}`;
    }
    const init = () => ({
      method, cache: 'no-store', headers: authHeaders(body !== undefined),
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    let res;
    try {
      res = await fetch(url, init());
      // A server started with --api-key: ask for the key once and keep it in this browser.
      if (res.status === 401) {
        const key = window.prompt('This flowcore server requires an API key:');
        if (key) {
          window.localStorage.setItem(KEY_STORAGE, key);
          res = await fetch(url, init());
        }
      }
    } catch (e) {
      throw new ApiError(`Cannot reach the flowcore server (${e.message})`, 0);
    }
    const text = await res.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch (_) { /* reported below */ }
    if (!res.ok) {
      const msg = parsed && typeof parsed.error === 'string' ? parsed.error : text.slice(0, 300) || res.statusText;
      throw new ApiError(`${msg} (HTTP ${res.status})`, res.status);
    }
    if (parsed === null) throw new ApiError(`Invalid JSON from ${method} ${url}`, res.status);
    return parsed;
  }

  const api = (path, params) => request('GET', path, params);
  // POST / PUT / DELETE; body (optional) is sent as JSON.
  const send = (method, path, body) => request(method, path, null, body);

  // A secondary request whose failure should show inside its own section, not break the page.
  const soft = (promise) => promise.catch((error) => ({ error }));

  // ---------------------------------------------------------------- shared renderers

  function badge(state) {
    const type = stateType(state);
    const name = state ? state.name || state.type : 'No state';
    return `<span class="state-badge state-${type}" data-testid="state-badge">${escape(name)}</span>`;
  }

  function chips(tags) {
    return (tags || []).map((t) => `<span class="chip" data-testid="tag">${escape(t)}</span>`).join('');
  }

  function pausedBadge(paused, what = 'schedule') {
    return paused ? `<span class="pause-badge" data-testid="paused-badge" title="The ${escape(what)} is paused">Paused</span>` : '';
  }

  const errorInline = (e) => `<div class="error-box">${escape(e.message || String(e))}</div>`;

  const kv = (rows) => `<dl class="kv">${rows.filter(Boolean)
    .map(([k, v]) => `<dt>${escape(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;

  // State message: a prominent red box for a failure, a plain line otherwise.
  function stateMessage(state) {
    if (!state || !state.message) return '';
    const cls = isFailure(state) ? 'failure-box' : 'state-message';
    return `<div class="${cls}" data-testid="state-message">${escape(state.message)}</div>`;
  }

  function timingRows(run) {
    return [
      ['Created', escape(fmtTime(run.created))],
      run.expected_start_time ? ['Expected start', escape(fmtTime(run.expected_start_time))] : null,
      ['Start', escape(fmtTime(run.start_time))],
      ['End', escape(fmtTime(run.end_time))],
      ['Duration', escape(fmtDuration(runDuration(run)))],
    ];
  }

  function stateHistory(states) {
    if (states.error) return errorInline(states.error);
    if (!states.length) return '<p class="muted">No states recorded.</p>';
    const now = Date.now();
    const rows = states.map((s, i) => {
      const t = parseTs(s.timestamp);
      const next = i + 1 < states.length ? parseTs(states[i + 1].timestamp) : (isFinal(s) ? null : now);
      const inState = t != null && next != null ? fmtDuration((next - t) / 1000) : '';
      return `<tr data-testid="state-row"><td class="num">${i + 1}</td><td>${escape(fmtTime(s.timestamp))}</td>
        <td>${badge(s)}</td><td class="muted">${escape(inState)}</td>
        <td><div class="pre-wrap">${escape(s.message || '')}</div></td></tr>`;
    }).join('');
    return `<table class="table" data-testid="state-history"><thead><tr><th>#</th><th>Time</th><th>State</th>
      <th>Time in state</th><th>Message</th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  // ---- logs (shared by the flow-run and task-run pages)

  function levelOf(level) {
    const up = String(level || '').toUpperCase();
    if (up === 'WARN') return 'WARNING';
    return LOG_LEVELS.includes(up) ? up : 'INFO';
  }

  function logsSection() {
    const options = [['TRACE', 'All levels'], ['DEBUG', 'Debug and above'], ['INFO', 'Info and above'],
      ['WARNING', 'Warning and above'], ['ERROR', 'Error only']]
      .map(([v, l]) => `<option value="${v}">${l}</option>`).join('');
    return `<section class="card">
      <div class="card-head"><h2>Logs <span class="muted small" data-part="log-count"></span></h2>
        <label class="inline-label">Level <select data-part="level" data-testid="log-level">${options}</select></label>
      </div>
      <div class="logs" data-testid="logs" data-part="logs"><p class="muted">Loading…</p></div>
    </section>`;
  }

  function logLine(log) {
    const level = levelOf(log.level);
    const t = parseTs(log.timestamp);
    const href = log.run_kind === 'task' ? taskRunHref(log.run_id) : flowRunHref(log.run_id);
    return `<div class="log-line" data-testid="log-line" data-level="${level}">` +
      `<time class="log-time" title="${escape(fmtTime(log.timestamp))}">${escape(fmtClock(t, true))}</time>` +
      `<span class="level-badge level-${level}">${escape(String(log.level || level).toUpperCase())}</span>` +
      `<a class="log-run" href="${href}" title="${escape(log.target || '')}">${escape(log.run_name || '')}</a>` +
      `<pre class="log-msg">${escape(log.message)}</pre></div>`;
  }

  function renderLogs(page, logs) {
    const level = page.query.get('level') || 'TRACE';
    page.part('level').value = level;
    if (logs.error) {
      setHTML(page.part('logs'), errorInline(logs.error));
      return;
    }
    const all = logs.results || [];
    const min = LOG_LEVELS.indexOf(level);
    const shown = all.filter((l) => LOG_LEVELS.indexOf(levelOf(l.level)) >= min);
    setHTML(page.part('log-count'), escape(shown.length === all.length
      ? plural(all.length, 'line') : `${shown.length} of ${plural(all.length, 'line')}`));
    let html;
    if (!all.length) html = '<p class="muted" data-testid="logs-empty">No logs.</p>';
    else if (!shown.length) html = `<p class="muted">No logs at ${escape(level)} or above.</p>`;
    else html = shown.map(logLine).join('');
    setHTML(page.part('logs'), html);
  }

  function bindLogLevel(page) {
    page.part('level').addEventListener('change', (e) => {
      const q = new URLSearchParams(page.query);
      if (e.target.value === 'TRACE') q.delete('level'); else q.set('level', e.target.value);
      updateQuery(page, q, false);
    });
  }

  // ---------------------------------------------------------------- charts

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
  function scatterChart(runs, width) {
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

  function graphChart(graph) {
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
  function timelineChart(run, tasks, width) {
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

  // ---------------------------------------------------------------- pages

  class Page {
    constructor() {
      this.data = null;
      this.query = new URLSearchParams();
      this.root = null;
    }
    title() { return 'flowcore'; }
    // Each page gets its own element: the listeners bind() adds go away with it.
    mount(container) {
      this.root = document.createElement('div');
      this.root.className = 'page';
      this.root.innerHTML = `<div class="error-box page-error" data-testid="error-box" data-part="error" role="alert" hidden></div>${this.skeleton()}`;
      container.replaceChildren(this.root);
      this.bind();
    }
    skeleton() { return ''; }
    bind() {}
    setQuery(q) { this.query = q; }
    part(name) { return this.root.querySelector(`[data-part="${name}"]`); }
    // A failed load (cleared by the next good one) or a failed action (kept until the next action).
    showError(err) {
      this.loadError = err;
      this.paintError();
      // Before the first successful load, an error replaces the "Loading…" placeholders.
      if (!err || !this.data) this.root.querySelectorAll('[data-loading]').forEach((el) => { el.hidden = !!err; });
    }
    showActionError(err) {
      this.actionError = err;
      this.paintError();
    }
    paintError() {
      const box = this.part('error');
      const msgs = [this.loadError, this.actionError].filter(Boolean).map((e) => e.message || String(e));
      box.hidden = !msgs.length;
      box.textContent = msgs.join('\n');
    }
    // Run a button's request: the button is disabled meanwhile (this.busy names it for re-renders),
    // a failure goes to the error box, success re-renders and refreshes.
    async act(name, fn) {
      if (this.busy) return;
      this.busy = name;
      this.showActionError(null);
      if (this.data) this.render();
      try {
        await fn();
      } catch (e) {
        this.showActionError(e);
      } finally {
        this.busy = null;
        if (this.data && app.page === this && !this.leaving) { this.render(); tick(); }
      }
    }
    isActive() { return false; }
    async fetch() { return null; }
    render() {}
  }

  // ---- Flow runs list (also #/flows/<name>, with the flow filter preset)

  class FlowRunsPage extends Page {
    constructor(flow) {
      super();
      this.flow = flow; // null for the full list
      this.searchTimer = null;
    }
    title() { return this.flow == null ? 'Flow Runs' : `Flow ${this.flow}`; }
    basePath() { return this.flow == null ? '/flow-runs' : `/flows/${enc(this.flow)}`; }

    filters() {
      const q = this.query;
      const f = { since: q.get('since') || '', until: q.get('until') || '', name: q.get('name') || '',
        sort: q.get('sort') === 'oldest' ? 'oldest' : 'newest', offset: Math.max(0, parseInt(q.get('offset'), 10) || 0) };
      for (const [key] of MULTI_FILTERS) f[key] = listParam(q, key);
      if (this.flow != null) f.flow = [this.flow];
      return f;
    }
    hasFilters() {
      const f = this.filters();
      return !!(f.since || f.until || f.name) || MULTI_FILTERS.some(([key]) => f[key].length);
    }

    skeleton() {
      const crumb = this.flow == null ? '' : `<nav class="breadcrumb" data-testid="breadcrumb"><a href="#/flows">Flows</a> <span class="sep">›</span> <span>${escape(this.flow)}</span></nav>`;
      const heading = `<h1>${escape(this.flow == null ? 'Flow Runs' : this.flow)}</h1>`;
      const multis = MULTI_FILTERS.filter(([key]) => !(key === 'flow' && this.flow != null)).map(([key, label]) => `
        <details class="multi" data-key="${key}" data-testid="filter-${key.replace('_', '-')}">
          <summary><span class="multi-label">${label}</span> <span class="multi-value" data-part="sum-${key}">All</span></summary>
          <div class="multi-menu" data-part="menu-${key}"></div>
        </details>`).join('');
      return `${crumb}<div class="page-head">${heading}<span class="run-count" data-testid="run-count" data-part="count"></span></div>
        <form class="filters" data-part="filters" autocomplete="off">
          <label class="field">From <input type="datetime-local" name="since" data-testid="filter-since"></label>
          <label class="field">Until <input type="datetime-local" name="until" data-testid="filter-until"></label>
          ${multis}
          <input type="search" name="name" class="search" placeholder="Search by run name" data-testid="filter-search" aria-label="Search by run name">
          <label class="field">Sort <select name="sort" data-testid="filter-sort">
            <option value="newest">Newest</option><option value="oldest">Oldest</option></select></label>
          <button type="button" class="btn-link" data-action="clear" data-testid="clear-filters">Clear filters</button>
        </form>
        <section class="card chart-card" data-part="chart" hidden></section>
        <div class="run-list" data-part="list" data-loading><p class="muted">Loading…</p></div>
        <div data-part="pager"></div>`;
    }

    bind() {
      const form = this.part('filters');
      form.addEventListener('submit', (e) => { e.preventDefault(); this.applyControls(false); });
      form.addEventListener('change', (e) => { if (e.target.name !== 'name') this.applyControls(true); });
      form.addEventListener('input', (e) => {
        if (e.target.name !== 'name') return;
        clearTimeout(this.searchTimer);
        this.searchTimer = setTimeout(() => this.applyControls(false), 300);
      });
      form.addEventListener('toggle', (e) => { // one dropdown open at a time
        if (e.target.open) form.querySelectorAll('details.multi[open]').forEach((d) => { if (d !== e.target) d.open = false; });
      }, true);
      this.root.addEventListener('click', (e) => {
        const btn = e.target.closest('[data-action]');
        if (!btn) return;
        const action = btn.dataset.action;
        if (action === 'clear') updateQuery(this, new URLSearchParams(), true);
        if (action === 'prev' || action === 'next') {
          const q = new URLSearchParams(this.query);
          const off = this.filters().offset + (action === 'next' ? PAGE_SIZE : -PAGE_SIZE);
          if (off > 0) q.set('offset', off); else q.delete('offset');
          updateQuery(this, q, true);
          window.scrollTo(0, 0);
        }
      });
    }

    // Controls → hash query (any filter change goes back to the first page).
    applyControls(push) {
      const form = this.part('filters');
      const q = new URLSearchParams();
      const since = fromLocalInput(form.elements.since.value);
      const until = fromLocalInput(form.elements.until.value);
      if (since) q.set('since', since);
      if (until) q.set('until', until);
      for (const [key] of MULTI_FILTERS) {
        const vals = [...form.querySelectorAll(`input[type=checkbox][name="${key}"]:checked`)].map((c) => c.value);
        if (vals.length) q.set(key, vals.join(','));
      }
      const name = form.elements.name.value.trim();
      if (name) q.set('name', name);
      if (form.elements.sort.value === 'oldest') q.set('sort', 'oldest');
      updateQuery(this, q, push);
    }

    // Hash query → controls (leaves the control being typed in alone).
    setQuery(q) {
      super.setQuery(q);
      const form = this.part('filters');
      const f = this.filters();
      const put = (el, v) => { if (el !== document.activeElement && el.value !== v) el.value = v; };
      put(form.elements.since, toLocalInput(f.since));
      put(form.elements.until, toLocalInput(f.until));
      put(form.elements.name, f.name);
      put(form.elements.sort, f.sort);
      this.syncChecks();
    }
    syncChecks() {
      const f = this.filters();
      for (const [key] of MULTI_FILTERS) {
        const sum = this.part(`sum-${key}`);
        if (!sum) continue;
        this.part(`menu-${key}`).querySelectorAll('input[type=checkbox]').forEach((c) => { c.checked = f[key].includes(c.value); });
        sum.textContent = f[key].length ? f[key].map((v) => filterLabel(key, v, false)).join(', ') : 'All';
        sum.closest('details').classList.toggle('active', f[key].length > 0);
      }
    }

    renderMenus(options) {
      const f = this.filters();
      for (const [key, , optKey] of MULTI_FILTERS) {
        const menu = this.part(`menu-${key}`);
        if (!menu) continue;
        const known = key === 'state' ? STATE_NAMES : [];
        const values = [...new Set([...known, ...((options && options[optKey]) || []), ...f[key]])];
        if (key !== 'state') values.sort((a, b) => filterLabel(key, a).localeCompare(filterLabel(key, b)));
        setHTML(menu, values.length ? values.map((v) => `<label class="multi-option">
            <input type="checkbox" name="${key}" value="${escape(v)}">
            ${key === 'state' ? `<span class="dot-swatch st-${NAME_TYPE[v] || 'NONE'}"></span>` : ''}<span>${escape(filterLabel(key, v))}</span></label>`).join('')
          : '<p class="muted small">No values yet</p>');
      }
      this.syncChecks();
    }

    async fetch() {
      const f = this.filters();
      const params = { limit: PAGE_SIZE, offset: f.offset, sort: f.sort, since: f.since, until: f.until, name: f.name };
      for (const [key] of MULTI_FILTERS) if (f[key].length) params[key] = f[key].join(',');
      const [runs, options] = await Promise.all([api('/flow_runs', params), api('/filters').catch(() => null)]);
      await loadDeploymentNames([...((options && options.deployments) || []), ...f.deployment,
        ...(runs.results || []).filter((r) => !r.deployment_name).map((r) => r.deployment_id)]);
      return { runs, options };
    }

    isActive() { return !!this.data && (this.data.runs.results || []).some((r) => !isFinal(r.state)); }

    render() {
      const { runs, options } = this.data;
      const results = runs.results || [];
      const f = this.filters();
      this.renderMenus(options);
      setHTML(this.part('count'), escape(plural(runs.count, 'Flow run')));
      const chart = this.part('chart');
      chart.hidden = !results.length;
      if (results.length) setHTML(chart, scatterChart(results, Math.max(320, chart.clientWidth > 0 ? chart.clientWidth - 34 : 900)));

      let list;
      if (!runs.count && !this.hasFilters()) {
        list = `<div class="empty"><p class="empty-title" data-testid="empty-state">Run a flow to get started</p>
          <p class="muted">For example: <code>cargo run --example hello_flow</code></p></div>`;
      } else if (!runs.count) {
        list = `<div class="empty"><p class="empty-title" data-testid="empty-state">No flow runs match these filters</p>
          <button type="button" class="btn" data-action="clear">Clear filters</button></div>`;
      } else if (!results.length) {
        list = '<div class="empty"><p class="empty-title">No runs on this page</p></div>';
      } else {
        list = results.map(flowRunRow).join('');
      }
      setHTML(this.part('list'), list);

      const last = Math.min(runs.count, f.offset + results.length);
      setHTML(this.part('pager'), runs.count > PAGE_SIZE || f.offset > 0
        ? `<div class="pager" data-testid="pagination">
            <button type="button" class="btn" data-action="prev" data-testid="prev-page"${f.offset > 0 ? '' : ' disabled'}>‹ Previous</button>
            <span class="muted">${results.length ? f.offset + 1 : 0}–${last} of ${runs.count}</span>
            <button type="button" class="btn" data-action="next" data-testid="next-page"${f.offset + PAGE_SIZE < runs.count ? '' : ' disabled'}>Next ›</button></div>`
        : '');
    }
  }

  // The deployment filter holds ids; its menu and summary show names.
  const filterLabel = (key, v, full = true) => (key === 'deployment' ? deploymentName(v, null, full) : v);

  function flowRunRow(r) {
    const expected = expectedStart(r);
    let start;
    if (r.start_time) start = `<span title="Start time">${escape(fmtTime(r.start_time))}</span>`;
    else if (expected) start = `<span class="muted" title="Expected start time" data-testid="expected-start">expected ${escape(fmtTime(expected))} (${escape(fmtAgo(expected))})</span>`;
    else start = `<span class="muted" title="Created">created ${escape(fmtTime(r.created))}</span>`;
    const side = [
      r.deployment_id || r.deployment_name ? `<span class="side-item" title="Deployment"><span class="muted">Deployment</span> ${r.deployment_id
        ? `<a href="${deploymentHref(r.deployment_id)}" data-testid="deployment-link">${escape(deploymentName(r.deployment_id, r.deployment_name))}</a>`
        : escape(r.deployment_name)}</span>` : '',
      r.work_queue_name ? `<span class="side-item" title="Work queue"><span class="muted">Queue</span> <a href="${WORK_QUEUES_HREF}" data-testid="work-queue-link">${escape(r.work_queue_name)}</a></span>` : '',
      r.parent_flow_run_id ? `<a class="side-item" href="${flowRunHref(r.parent_flow_run_id)}">subflow of parent run</a>` : '',
    ].join('');
    return `<div class="run-row st-${stateType(r.state)}" data-testid="flow-run-row" data-run-id="${escape(r.id)}">
      <div class="run-main">
        <div class="run-title"><a class="flow-name" href="${flowHref(r.flow_name)}">${escape(r.flow_name)}</a> <span class="sep">›</span> <a href="${flowRunHref(r.id)}" data-testid="flow-run-link">${escape(r.name)}</a></div>
        <div class="run-meta">${badge(r.state)}${start}
          <span title="Duration">${escape(fmtDuration(runDuration(r)))}</span>
          <span>${escape(plural(r.task_run_count ?? 0, 'task run'))}</span>
          ${r.tags && r.tags.length ? `<span class="chips">${chips(r.tags)}</span>` : ''}</div>
      </div>
      <div class="run-side">${side}</div>
    </div>`;
  }

  // ---- One flow run

  class FlowRunPage extends Page {
    constructor(id) { super(); this.id = id; }
    title() { return this.data ? `${this.data.run.flow_name} › ${this.data.run.name}` : 'Flow run'; }
    skeleton() {
      return `<div data-part="header" data-loading><p class="muted">Loading…</p></div>
        <div data-part="body" hidden>
          <div class="grid-3">
            <section class="card"><h2>Details</h2><div data-part="details"></div></section>
            <section class="card"><h2>Timing</h2><div data-part="timing"></div></section>
            <section class="card"><h2>Parameters</h2><div data-part="params"></div></section>
          </div>
          <section class="card"><h2>Task graph</h2><div class="graph-scroll" data-testid="task-graph" data-part="graph"></div></section>
          <section class="card"><h2>Timeline</h2><div class="timeline-scroll" data-testid="timeline" data-part="timeline"></div></section>
          <section class="card"><h2>Task runs <span class="muted small" data-part="task-count"></span></h2><div data-part="tasks"></div></section>
          ${logsSection()}
          <section class="card"><h2>State history</h2><div data-part="states"></div></section>
        </div>`;
    }
    bind() { bindLogLevel(this); }
    async fetch() {
      const base = `/flow_runs/${enc(this.id)}`;
      const [run, tasks, graph, logs, states] = await Promise.all([
        api(base), soft(api(`${base}/task_runs`)), soft(api(`${base}/graph`)), soft(api(`${base}/logs`)), soft(api(`${base}/states`)),
      ]);
      if (!run.deployment_name) await loadDeploymentNames([run.deployment_id]);
      return { run, tasks: tasks.error ? tasks : tasks.results || [], graph, logs, states };
    }
    isActive() {
      const { run, tasks } = this.data;
      return !isFinal(run.state) || (!tasks.error && tasks.some((t) => !isFinal(t.state)));
    }
    render() {
      const { run, tasks, graph, logs, states } = this.data;
      document.title = `${this.title()} · flowcore`;
      setHTML(this.part('header'), `<nav class="breadcrumb" data-testid="breadcrumb">
          <a href="${flowHref(run.flow_name)}">${escape(run.flow_name)}</a> <span class="sep">›</span> <span>${escape(run.name)}</span></nav>
        <div class="title-row"><h1>${escape(run.name)}</h1>${badge(run.state)}
          ${run.parent_flow_run_id ? `<a class="chip chip-link" href="${flowRunHref(run.parent_flow_run_id)}" data-testid="parent-link">subflow of parent run ↗</a>` : ''}</div>
        ${stateMessage(run.state)}`);
      this.part('body').hidden = false;
      setHTML(this.part('details'), kv([
        ['Flow', `<a href="${flowHref(run.flow_name)}">${escape(run.flow_name)}</a>`],
        ['Run ID', `<code>${escape(run.id)}</code>`],
        run.version ? ['Version', escape(run.version)] : null,
        ['Attempts', escape(run.attempts ?? '—')],
        ['Task runs', escape(run.task_run_count ?? (tasks.error ? '—' : tasks.length))],
        run.deployment_id || run.deployment_name ? ['Deployment', run.deployment_id
          ? `<a href="${deploymentHref(run.deployment_id)}" data-testid="deployment-link">${escape(deploymentName(run.deployment_id, run.deployment_name))}</a>`
          : escape(run.deployment_name)] : null,
        run.work_queue_name ? ['Work queue', `<a href="${WORK_QUEUES_HREF}" data-testid="work-queue-link">${escape(run.work_queue_name)}</a>`] : null,
        run.parent_flow_run_id ? ['Parent flow run', `<a href="${flowRunHref(run.parent_flow_run_id)}">${escape(run.parent_flow_run_id)}</a>`] : null,
        run.parent_task_run_id ? ['Parent task run', `<a href="${taskRunHref(run.parent_task_run_id)}">${escape(run.parent_task_run_id)}</a>`] : null,
        ['Tags', run.tags && run.tags.length ? chips(run.tags) : '<span class="muted">none</span>'],
      ]));
      setHTML(this.part('timing'), kv(timingRows(run)));
      const params = run.parameters && Object.keys(run.parameters).length
        ? `<pre class="json" data-testid="parameters">${escape(JSON.stringify(run.parameters, null, 2))}</pre>`
        : '<p class="muted" data-testid="parameters">No parameters</p>';
      setHTML(this.part('params'), params);

      const graphEl = this.part('graph');
      const scroll = [graphEl.scrollLeft, graphEl.scrollTop];
      setHTML(graphEl, graphChart(graph));
      [graphEl.scrollLeft, graphEl.scrollTop] = scroll;
      const tl = this.part('timeline');
      setHTML(tl, timelineChart(run, tasks, Math.max(500, tl.clientWidth > 0 ? tl.clientWidth - 2 : 1000)));
      setHTML(this.part('task-count'), tasks.error ? '' : escape(`(${tasks.length})`));
      setHTML(this.part('tasks'), taskRunTable(tasks));
      renderLogs(this, logs);
      setHTML(this.part('states'), stateHistory(states));
    }
  }

  function taskRunTable(tasks) {
    if (tasks.error) return errorInline(tasks.error);
    if (!tasks.length) return '<p class="muted">No task runs</p>';
    const rows = tasks.map((t) => `<tr data-testid="task-run-row">
        <td><a href="${taskRunHref(t.id)}" data-testid="task-run-link">${escape(t.name)}</a>
          ${t.subflow_run_id ? ` <a class="chip chip-link" href="${flowRunHref(t.subflow_run_id)}">subflow run ↗</a>` : ''}</td>
        <td>${badge(t.state)}</td><td class="num">${escape(t.attempts ?? '—')}</td>
        <td>${escape(fmtTime(t.start_time))}</td>
        <td class="num">${escape(fmtDuration(t.duration_s ?? spanSeconds(t.start_time, t.end_time, t.state)))}</td>
        <td>${chips(t.tags)}</td></tr>`).join('');
    return `<div class="table-scroll"><table class="table"><thead><tr><th>Task run</th><th>State</th><th class="num">Attempts</th>
      <th>Start</th><th class="num">Duration</th><th>Tags</th></tr></thead><tbody>${rows}</tbody></table></div>`;
  }

  // ---- One task run

  class TaskRunPage extends Page {
    constructor(id) { super(); this.id = id; }
    title() { return this.data ? `${this.data.run.flow_run_name} › ${this.data.run.name}` : 'Task run'; }
    skeleton() {
      return `<div data-part="header" data-loading><p class="muted">Loading…</p></div>
        <div data-part="body" hidden>
          <div class="grid-3">
            <section class="card"><h2>Details</h2><div data-part="details"></div></section>
            <section class="card"><h2>Timing</h2><div data-part="timing"></div></section>
            <section class="card"><h2>Inputs</h2><div data-part="inputs"></div></section>
          </div>
          <section class="card"><h2>State history</h2><div data-part="states"></div></section>
          ${logsSection()}
        </div>`;
    }
    bind() { bindLogLevel(this); }
    async fetch() {
      const base = `/task_runs/${enc(this.id)}`;
      const [run, states, logs] = await Promise.all([api(base), soft(api(`${base}/states`)), soft(api(`${base}/logs`))]);
      // Sibling task runs give the inputs' upstream runs a name and a state.
      const siblings = run.inputs && run.inputs.length && run.flow_run_id
        ? await soft(api(`/flow_runs/${enc(run.flow_run_id)}/task_runs`)) : { results: [] };
      return { run, states, logs, siblings: new Map((siblings.results || []).map((t) => [t.id, t])) };
    }
    isActive() { return !isFinal(this.data.run.state); }
    render() {
      const { run, states, logs, siblings } = this.data;
      document.title = `${this.title()} · flowcore`;
      setHTML(this.part('header'), `<nav class="breadcrumb" data-testid="breadcrumb">
          <a href="${flowHref(run.flow_name)}">${escape(run.flow_name)}</a> <span class="sep">›</span> <a href="${flowRunHref(run.flow_run_id)}">${escape(run.flow_run_name)}</a> <span class="sep">›</span> <span>${escape(run.name)}</span></nav>
        <div class="title-row"><h1>${escape(run.name)}</h1>${badge(run.state)}
          ${run.subflow_run_id ? `<a class="chip chip-link" href="${flowRunHref(run.subflow_run_id)}" data-testid="subflow-link">open subflow run ↗</a>` : ''}</div>
        ${stateMessage(run.state)}`);
      this.part('body').hidden = false;
      setHTML(this.part('details'), kv([
        ['Task', escape(run.task_name)],
        ['Task run ID', `<code>${escape(run.id)}</code>`],
        ['Flow run', `<a href="${flowRunHref(run.flow_run_id)}">${escape(run.flow_run_name)}</a>`],
        ['Attempts', `<span data-testid="attempts">${escape(run.attempts ?? '—')}</span>`],
        run.subflow_run_id ? ['Subflow run', `<a href="${flowRunHref(run.subflow_run_id)}">${escape(run.subflow_run_id)}</a>`] : null,
        ['Tags', run.tags && run.tags.length ? chips(run.tags) : '<span class="muted">none</span>'],
      ]));
      setHTML(this.part('timing'), kv(timingRows(run)));
      setHTML(this.part('inputs'), inputsTable(run.inputs || [], siblings));
      setHTML(this.part('states'), stateHistory(states));
      renderLogs(this, logs);
    }
  }

  function inputsTable(inputs, siblings) {
    if (!inputs.length) return '<p class="muted" data-testid="inputs">No upstream inputs</p>';
    const rows = inputs.map((i) => {
      const up = siblings.get(i.upstream_id);
      return `<tr data-testid="input-row"><td><code>${escape(i.parameter || '—')}</code></td>
        <td><span class="chip kind-${escape(i.kind)}">${escape(i.kind === 'wait_for' ? 'wait_for' : 'parameter')}</span></td>
        <td><a href="${taskRunHref(i.upstream_id)}" data-testid="input-link">${escape(up ? up.name : i.upstream_id)}</a>
          ${up ? badge(up.state) : ''}</td></tr>`;
    }).join('');
    return `<table class="table compact" data-testid="inputs"><thead><tr><th>Parameter</th><th>Kind</th><th>Upstream task run</th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  // ---- Flows

  class FlowsPage extends Page {
    title() { return 'Flows'; }
    skeleton() {
      return `<div class="page-head"><h1>Flows</h1><span class="run-count" data-part="count"></span></div>
        <div data-part="list" data-loading><p class="muted">Loading…</p></div>`;
    }
    async fetch() { return api('/flows'); }
    isActive() { return (this.data.results || []).some((f) => f.last_run && !isFinal(f.last_run.state)); }
    render() {
      const flows = this.data.results || [];
      setHTML(this.part('count'), escape(plural(this.data.count ?? flows.length, 'Flow')));
      if (!flows.length) {
        setHTML(this.part('list'), `<div class="empty"><p class="empty-title" data-testid="empty-state">Run a flow to get started</p>
          <p class="muted">For example: <code>cargo run --example hello_flow</code></p></div>`);
        return;
      }
      const rows = flows.map((f) => {
        const last = f.last_run;
        return `<tr data-testid="flow-row" data-flow="${escape(f.name)}">
          <td><a class="strong" href="${flowHref(f.name)}" data-testid="flow-link">${escape(f.name)}</a></td>
          <td class="num"><a href="${flowHref(f.name)}">${escape(plural(f.run_count ?? 0, 'run'))}</a></td>
          <td>${last ? `${badge(last.state)} <a href="${flowRunHref(last.id)}">${escape(last.name)}</a>
            <span class="muted" title="${escape(fmtTime(last.start_time || last.created))}">${escape(fmtAgo(last.start_time || last.created))}</span>` : '<span class="muted">—</span>'}</td>
          <td class="muted">${escape(fmtTime(f.created))}</td></tr>`;
      }).join('');
      setHTML(this.part('list'), `<section class="card flush"><table class="table"><thead><tr><th>Flow</th><th class="num">Runs</th>
        <th>Last run</th><th>Created</th></tr></thead><tbody>${rows}</tbody></table></section>`);
    }
  }

  // ---- Deployments

  function scheduleWords(d) {
    if (d.schedule_description) return d.schedule_description;
    const s = d.schedule;
    if (!s) return 'No schedule (ad hoc)';
    if (s.type === 'interval') return `every ${fmtDuration(s.interval_s)}`;
    if (s.type === 'cron') return `cron "${s.cron}"${s.timezone ? ` (${s.timezone})` : ''}`;
    return String(s.type || 'unknown schedule');
  }

  // When the next scheduled run is expected (its time, relative time and a link to the run).
  function nextRunCell(d) {
    const next = (d.next_runs || [])[0];
    if (next) {
      const t = next.expected_start_time;
      return `<a class="nowrap" href="${flowRunHref(next.id)}" title="${escape(`${next.name} · ${fmtTime(t)}`)}">${escape(fmtShort(t))}</a>
        <span class="muted nowrap">${escape(fmtAgo(t))}</span>`;
    }
    return `<span class="muted">${d.schedule && d.paused ? 'paused' : '—'}</span>`;
  }

  function lastRunCell(last) {
    return last ? `${badge(last.state)} <a href="${flowRunHref(last.id)}">${escape(last.name)}</a>
      <span class="muted" title="${escape(fmtTime(last.start_time || last.expected_start_time || last.created))}">${escape(fmtAgo(last.start_time || last.expected_start_time || last.created))}</span>`
      : '<span class="muted">—</span>';
  }

  const queueLink = (name) => (name
    ? `<a href="${WORK_QUEUES_HREF}" data-testid="work-queue-link">${escape(name)}</a>` : '<span class="muted">—</span>');

  class DeploymentsPage extends Page {
    title() { return 'Deployments'; }
    skeleton() {
      return `<div class="page-head"><h1>Deployments</h1><span class="run-count" data-part="count"></span></div>
        <div data-part="list" data-loading><p class="muted">Loading…</p></div>`;
    }
    async fetch() {
      const data = await api('/deployments');
      rememberDeployments(data.results);
      return data;
    }
    isActive() { return (this.data.results || []).some((d) => isLive(d.last_run) || (d.next_runs || []).some(isLive)); }
    render() {
      const deps = this.data.results || [];
      setHTML(this.part('count'), escape(plural(this.data.count ?? deps.length, 'Deployment')));
      if (!deps.length) {
        setHTML(this.part('list'), `<div class="empty"><p class="empty-title" data-testid="empty-state">No deployments yet</p>
          <p class="muted">Create one with, for example: <code>cargo run --example deploy</code></p></div>`);
        return;
      }
      const rows = deps.map((d) => `<tr data-testid="deployment-row" data-deployment-id="${escape(d.id)}">
          <td><a class="dep-link" href="${deploymentHref(d.id)}" data-testid="deployment-link"><span class="dep-flow">${escape(d.flow_name)}</span>
            <span class="sep">›</span> <span class="strong">${escape(d.name)}</span></a> ${pausedBadge(d.paused)}
            ${d.version ? `<span class="muted small">v${escape(d.version)}</span>` : ''}</td>
          <td data-testid="schedule"${d.schedule ? '' : ' class="muted"'}>${escape(scheduleWords(d))}</td>
          <td>${queueLink(d.work_queue_name)}</td>
          <td>${chips(d.tags)}</td>
          <td data-testid="next-run">${nextRunCell(d)}</td>
          <td data-testid="last-run">${lastRunCell(d.last_run)}</td></tr>`).join('');
      setHTML(this.part('list'), `<section class="card flush"><div class="table-wrap"><table class="table"><thead><tr><th>Deployment</th>
        <th>Schedule</th><th>Work queue</th><th>Tags</th><th>Next run</th><th>Last run</th></tr></thead><tbody>${rows}</tbody></table></div></section>`);
    }
  }

  // ---- One deployment

  class DeploymentPage extends Page {
    constructor(id) { super(); this.id = id; }
    title() { return this.data ? `${this.data.deployment.flow_name} › ${this.data.deployment.name}` : 'Deployment'; }
    skeleton() {
      return `<div data-part="header" data-loading><p class="muted">Loading…</p></div>
        <div data-part="body" hidden>
          <div class="grid-3">
            <section class="card"><h2>Details</h2><div data-part="details"></div></section>
            <section class="card"><h2>Schedule</h2><div data-part="schedule"></div></section>
            <section class="card"><h2>Entrypoint</h2><div data-part="entrypoint" data-testid="entrypoint"></div></section>
          </div>
          <div class="grid-2">
            <section class="card"><h2>Parameters</h2><div data-part="params"></div>
              <details class="schema" data-testid="parameter-schema"><summary>Parameter schema</summary><div data-part="schema"></div></details>
            </section>
            <section class="card"><h2>Next runs</h2><div data-part="next" data-testid="next-runs"></div></section>
          </div>
          <section class="card">
            <div class="card-head"><h2>Recent runs <span class="muted small" data-part="recent-count"></span></h2>
              <a href="#/flow-runs?deployment=${enc(this.id)}" data-testid="all-runs-link">All runs of this deployment ›</a></div>
            <div class="run-list" data-part="recent" data-testid="recent-runs"></div>
          </section>
        </div>`;
    }
    bind() {
      this.root.addEventListener('click', (e) => {
        const btn = e.target.closest('[data-action]');
        if (!btn || btn.disabled || !this.data) return;
        const base = `/deployments/${enc(this.id)}`;
        const d = this.data.deployment;
        if (btn.dataset.action === 'run') {
          this.act('run', async () => {
            const run = await send('POST', `${base}/runs`, { parameters: d.parameters || {} });
            this.leaving = true;
            location.hash = flowRunHref(run.id);
          });
        }
        if (btn.dataset.action === 'toggle-pause') {
          this.act('pause', async () => {
            this.data.deployment = await send('POST', `${base}/${d.paused ? 'resume' : 'pause'}`);
          });
        }
      });
    }
    async fetch() {
      const [deployment, recent] = await Promise.all([
        api(`/deployments/${enc(this.id)}`), soft(api('/flow_runs', { deployment: this.id, limit: 10 })),
      ]);
      rememberDeployments([deployment]);
      return { deployment, recent };
    }
    isActive() {
      const { deployment: d, recent } = this.data;
      return isLive(d.last_run) || (d.next_runs || []).some(isLive) || (recent.results || []).some(isLive);
    }
    render() {
      const { deployment: d, recent } = this.data;
      document.title = `${this.title()} · flowcore`;
      const busy = this.busy ? ' disabled' : '';
      setHTML(this.part('header'), `<nav class="breadcrumb" data-testid="breadcrumb">
          <a href="#/deployments">Deployments</a> <span class="sep">›</span> <a href="${flowHref(d.flow_name)}">${escape(d.flow_name)}</a>
          <span class="sep">›</span> <span>${escape(d.name)}</span></nav>
        <div class="title-row"><h1 data-testid="deployment-name">${escape(d.name)}</h1>${pausedBadge(d.paused)}
          ${d.version ? `<span class="chip" title="Version">v${escape(d.version)}</span>` : ''}
          <div class="actions">
            <button type="button" class="btn" data-action="toggle-pause" data-testid="pause-toggle"${busy}>${this.busy === 'pause' ? 'Saving…' : d.paused ? 'Resume schedule' : 'Pause schedule'}</button>
            <button type="button" class="btn btn-primary" data-action="run" data-testid="run-deployment" title="Start a run now with the parameters below"${busy}>${this.busy === 'run' ? 'Starting…' : '▶ Run'}</button>
          </div></div>
        ${d.description ? `<p class="description" data-testid="description">${escape(d.description)}</p>` : ''}`);
      this.part('body').hidden = false;

      setHTML(this.part('details'), kv([
        ['Flow', `<a href="${flowHref(d.flow_name)}" data-testid="flow-link">${escape(d.flow_name)}</a>`],
        ['Deployment ID', `<code>${escape(d.id)}</code>`],
        ['Version', d.version ? escape(d.version) : '<span class="muted">none</span>'],
        ['Work queue', queueLink(d.work_queue_name)],
        ['Tags', d.tags && d.tags.length ? chips(d.tags) : '<span class="muted">none</span>'],
        ['Created', escape(fmtTime(d.created))],
        ['Updated', escape(fmtTime(d.updated))],
      ]));

      const s = d.schedule;
      setHTML(this.part('schedule'), kv([
        ['Schedule', `<span data-testid="schedule">${escape(scheduleWords(d))}</span>`],
        s && s.type === 'interval' ? ['Every', `${escape(fmtDuration(s.interval_s))} <span class="muted">(${escape(s.interval_s)} s)</span>`] : null,
        s && s.type === 'interval' && s.anchor ? ['Anchor', escape(fmtTime(s.anchor))] : null,
        s && s.type === 'cron' ? ['Cron', `<code>${escape(s.cron)}</code>`] : null,
        s && s.type === 'cron' ? ['Time zone', escape(s.timezone || 'UTC')] : null,
        ['Status', s ? (d.paused ? `${pausedBadge(true)} <span class="muted">no new runs are scheduled</span>` : 'Active')
          : '<span class="muted">runs start only when triggered</span>'],
      ]));

      const ep = d.entrypoint || {};
      const args = ep.args || [];
      setHTML(this.part('entrypoint'), kv([
        ['Executable', ep.exe ? `<code class="mono" data-testid="entrypoint-exe">${escape(ep.exe)}</code>` : '<span class="muted">—</span>'],
        ['Arguments', args.length ? `<span class="args" data-testid="entrypoint-args">${args.map((a) => `<code>${escape(a)}</code>`).join(' ')}</span>` : '<span class="muted">none</span>'],
        ['Working dir', ep.cwd ? `<code class="mono" data-testid="entrypoint-cwd">${escape(ep.cwd)}</code>` : '<span class="muted">—</span>'],
      ]));

      setHTML(this.part('params'), d.parameters && Object.keys(d.parameters).length
        ? `<pre class="json" data-testid="parameters">${escape(JSON.stringify(d.parameters, null, 2))}</pre>`
        : '<p class="muted" data-testid="parameters">No parameters</p>');
      setHTML(this.part('schema'), d.parameter_schema && Object.keys(d.parameter_schema).length
        ? `<pre class="json">${escape(JSON.stringify(d.parameter_schema, null, 2))}</pre>` : '<p class="muted">No schema</p>');

      const next = d.next_runs || [];
      let nextHtml;
      if (next.length) {
        nextHtml = `<table class="table compact"><thead><tr><th>Expected start</th><th>Run</th><th>State</th></tr></thead><tbody>${next.map((r) => `<tr data-testid="next-run-row">
            <td>${escape(fmtTime(r.expected_start_time))} <span class="muted">${escape(fmtAgo(r.expected_start_time))}</span></td>
            <td><a href="${flowRunHref(r.id)}">${escape(r.name)}</a></td><td>${badge(r.state)}</td></tr>`).join('')}</tbody></table>`;
      } else if (!s) {
        nextHtml = '<p class="muted">No schedule: runs start when triggered with <b>Run</b> or through the API.</p>';
      } else if (d.paused) {
        nextHtml = '<p class="muted">The schedule is paused: no upcoming runs.</p>';
      } else {
        nextHtml = '<p class="muted">No upcoming runs yet.</p>';
      }
      setHTML(this.part('next'), nextHtml);

      if (recent.error) {
        setHTML(this.part('recent-count'), '');
        setHTML(this.part('recent'), errorInline(recent.error));
      } else {
        const runs = recent.results || [];
        setHTML(this.part('recent-count'), runs.length ? escape(runs.length < recent.count ? `(${runs.length} of ${recent.count})` : `(${runs.length})`) : '');
        setHTML(this.part('recent'), runs.length ? runs.map(flowRunRow).join('')
          : '<p class="muted" data-testid="recent-runs-empty">No runs of this deployment yet.</p>');
      }
    }
  }

  // ---- Work queues
  //
  // Rows are kept across refreshes (keyed by queue name) and only their cells are updated, so the
  // concurrency input being typed in is never replaced.

  class WorkQueuesPage extends Page {
    title() { return 'Work Queues'; }
    skeleton() {
      return `<div class="page-head"><h1>Work Queues</h1><span class="run-count" data-part="count"></span></div>
        <div data-part="list" data-loading><p class="muted">Loading…</p></div>`;
    }
    bind() {
      this.root.addEventListener('click', (e) => {
        const btn = e.target.closest('[data-action="queue-pause"]');
        if (!btn || btn.disabled || !this.data) return;
        const name = btn.closest('tr').dataset.queue;
        const q = this.queue(name);
        if (!q) return;
        this.act(`pause:${name}`, async () => {
          this.replace(await send('POST', `/work_queues/${enc(name)}/${q.paused ? 'resume' : 'pause'}`));
        });
      });
      this.root.addEventListener('input', (e) => { if (e.target.name === 'limit') e.target.dataset.dirty = '1'; });
      this.root.addEventListener('submit', (e) => {
        e.preventDefault();
        const form = e.target;
        const name = form.closest('tr').dataset.queue;
        const input = form.elements.limit;
        const raw = input.value.trim();
        const limit = raw === '' ? null : Number(raw);
        if (input.validity.badInput || (limit !== null && !(Number.isInteger(limit) && limit >= 0))) {
          this.showActionError(new Error(`Concurrency limit for ${name}: a whole number ≥ 0, or empty for unlimited`));
          return;
        }
        this.act(`limit:${name}`, async () => {
          const q = await send('PUT', `/work_queues/${enc(name)}/concurrency`, { concurrency_limit: limit });
          this.replace(q);
          delete input.dataset.dirty;
          input.value = q.concurrency_limit == null ? '' : String(q.concurrency_limit);
          const note = form.querySelector('[data-part="saved"]');
          note.hidden = false;
          setTimeout(() => { note.hidden = true; }, 2000);
        });
      });
    }
    queue(name) { return (this.data.results || []).find((q) => q.name === name); }
    replace(q) {
      const list = this.data.results || [];
      const i = list.findIndex((x) => x.name === q.name);
      if (i >= 0) list[i] = q;
    }
    async fetch() { return api('/work_queues'); }
    isActive() { return (this.data.results || []).some((q) => q.running_count > 0); }
    render() {
      const queues = this.data.results || [];
      setHTML(this.part('count'), escape(plural(this.data.count ?? queues.length, 'Work queue')));
      const list = this.part('list');
      if (!queues.length) {
        setHTML(list, `<div class="empty"><p class="empty-title" data-testid="empty-state">No work queues yet</p>
          <p class="muted">A queue appears when a deployment names it, for example <code>cargo run --example deploy</code></p></div>`);
        return;
      }
      setHTML(list, `<section class="card flush"><div class="table-wrap"><table class="table queues"><thead><tr><th>Work queue</th><th>Status</th>
        <th class="num">Concurrency limit</th><th class="num">Scheduled</th><th class="num">Running</th><th></th><th>Set concurrency limit</th>
        </tr></thead><tbody data-part="rows"></tbody></table></div></section>`);
      const tbody = this.part('rows');
      const old = new Map([...tbody.children].map((tr) => [tr.dataset.queue, tr]));
      queues.forEach((q, i) => {
        let tr = old.get(q.name);
        old.delete(q.name);
        if (!tr) tr = this.newRow(q.name);
        if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
        this.fillRow(tr, q);
      });
      old.forEach((tr) => tr.remove());
    }
    newRow(name) {
      const tr = document.createElement('tr');
      tr.dataset.testid = 'work-queue-row';
      tr.dataset.queue = name;
      tr.innerHTML = `<td data-cell="name"></td><td data-cell="status"></td><td class="num" data-cell="limit" data-testid="concurrency-limit"></td>
        <td class="num" data-cell="scheduled" data-testid="scheduled-count"></td><td class="num" data-cell="running" data-testid="running-count"></td>
        <td data-cell="toggle"></td>
        <td><form class="limit-form" data-testid="concurrency-form" autocomplete="off" novalidate>
          <input type="number" name="limit" min="0" step="1" inputmode="numeric" placeholder="unlimited" aria-label="Concurrency limit for ${escape(name)}" data-testid="concurrency-input">
          <button type="submit" class="btn" data-testid="concurrency-save">Save</button>
          <span class="saved-note" data-part="saved" hidden>Saved ✓</span></form></td>`;
      return tr;
    }
    fillRow(tr, q) {
      const cell = (name) => tr.querySelector(`[data-cell="${name}"]`);
      const runs = (states) => `#/flow-runs?work_queue=${enc(q.name)}&state=${states}`;
      setHTML(cell('name'), `<a class="strong" href="#/flow-runs?work_queue=${enc(q.name)}" title="Flow runs in this queue">${escape(q.name)}</a>`);
      setHTML(cell('status'), q.paused ? pausedBadge(true, 'queue') : '<span class="muted">Active</span>');
      setHTML(cell('limit'), q.concurrency_limit == null ? '<span class="muted">unlimited</span>' : escape(q.concurrency_limit));
      setHTML(cell('scheduled'), `<a href="${runs('Scheduled,Late')}">${escape(q.scheduled_count ?? 0)}</a>`);
      setHTML(cell('running'), `<a href="${runs('Running,Retrying')}">${escape(q.running_count ?? 0)}</a>`);
      const busy = this.busy === `pause:${q.name}`;
      setHTML(cell('toggle'), `<button type="button" class="btn" data-action="queue-pause" data-testid="queue-pause-toggle"${this.busy ? ' disabled' : ''}>${busy ? 'Saving…' : q.paused ? 'Resume' : 'Pause'}</button>`);
      const form = tr.querySelector('form');
      const input = form.elements.limit;
      if (!input.dataset.dirty && input !== document.activeElement) {
        const v = q.concurrency_limit == null ? '' : String(q.concurrency_limit);
        if (input.value !== v) input.value = v;
      }
      form.querySelector('button').disabled = !!this.busy;
    }
  }

  class NotFoundPage extends Page {
    title() { return 'Not found'; }
    skeleton() { return '<div class="empty"><p class="empty-title">Page not found</p><p><a href="#/flow-runs">Go to flow runs</a></p></div>'; }
  }

  // ---------------------------------------------------------------- router + refresh loop

  const ROUTES = [
    [/^\/flow-runs\/?$/, () => new FlowRunsPage(null)],
    [/^\/flow-runs\/([^/]+)$/, (m) => new FlowRunPage(decodeURIComponent(m[1]))],
    [/^\/task-runs\/([^/]+)$/, (m) => new TaskRunPage(decodeURIComponent(m[1]))],
    [/^\/flows\/?$/, () => new FlowsPage()],
    [/^\/flows\/([^/]+)$/, (m) => new FlowRunsPage(decodeURIComponent(m[1]))],
    [/^\/deployments\/?$/, () => new DeploymentsPage()],
    [/^\/deployments\/([^/]+)$/, (m) => new DeploymentPage(decodeURIComponent(m[1]))],
    [/^\/work-queues\/?$/, () => new WorkQueuesPage()],
  ];

  const app = { page: null, path: null, timer: null, seq: 0 };

  function parseHash() {
    const h = location.hash.replace(/^#/, '') || '/flow-runs';
    const i = h.indexOf('?');
    return { path: i < 0 ? h : h.slice(0, i), query: new URLSearchParams(i < 0 ? '' : h.slice(i + 1)) };
  }

  // Readable hash query: list values stay comma-separated, each value percent-encoded.
  function queryString(q) {
    const parts = [];
    for (const [k, v] of q) parts.push(`${enc(k)}=${v.split(',').map((x) => enc(x).replace(/%3A/gi, ':')).join(',')}`);
    return parts.length ? `?${parts.join('&')}` : '';
  }

  // push: a new history entry (hashchange does the rest); otherwise replace it in place.
  function updateQuery(page, q, push) {
    const hash = `#${page.basePath ? page.basePath() : app.path}${queryString(q)}`;
    if (hash === location.hash) return;
    if (push) location.hash = hash;
    else { history.replaceState(null, '', hash); onRoute(); }
  }

  function onRoute() {
    const { path, query } = parseHash();
    if (app.page && path === app.path) { // same page, new query: keep the DOM, re-fetch
      app.page.setQuery(query);
      if (app.page.data) app.page.render();
      tick();
      return;
    }
    clearTimeout(app.timer);
    app.path = path;
    let page = null;
    for (const [re, make] of ROUTES) {
      const m = path.match(re);
      if (m) { page = make(m); break; }
    }
    app.page = page || new NotFoundPage();
    app.page.mount(document.getElementById('app'));
    app.page.setQuery(query);
    document.title = `${app.page.title()} · flowcore`;
    const section = path.split('/')[1] === 'task-runs' ? 'flow-runs' : path.split('/')[1];
    document.querySelectorAll('[data-nav]').forEach((a) => a.classList.toggle('active', a.dataset.nav === section));
    window.scrollTo(0, 0);
    if (page) tick();
  }

  // Fetch + render the current page, then schedule the next refresh: fast while something is
  // still running, slow otherwise. A newer tick (or route) makes older responses stale.
  async function tick() {
    const seq = ++app.seq;
    const page = app.page;
    clearTimeout(app.timer);
    let data = null;
    let err = null;
    try { data = await page.fetch(); } catch (e) { err = e; }
    if (seq !== app.seq || page !== app.page) return;
    if (err) {
      page.showError(err);
    } else {
      page.showError(null);
      page.data = data;
      try { page.render(); } catch (e) { page.showError(e); console.error(e); }
    }
    const fast = !err && page.data && page.isActive();
    app.timer = setTimeout(tick, fast ? FAST_REFRESH_MS : SLOW_REFRESH_MS);
  }

  async function loadHealth() {
    const el = document.querySelector('[data-testid="server-info"]');
    try {
      const h = await api('/health');
      el.textContent = `${h.backend || 'unknown'} · v${h.version || '?'}`;
      el.title = `flowcore server ${h.version || ''}, ${h.backend || ''} backend, status ${h.status || '?'}`;
      el.classList.remove('down');
    } catch (e) {
      el.textContent = 'server unreachable';
      el.title = e.message;
      el.classList.add('down');
      setTimeout(loadHealth, SLOW_REFRESH_MS);
    }
  }

  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (app.page && app.page.data) app.page.render(); }, 150);
  });
  document.addEventListener('click', (e) => { // click outside a filter dropdown closes it
    document.querySelectorAll('details.multi[open]').forEach((d) => { if (!d.contains(e.target)) d.open = false; });
  });
  window.addEventListener('hashchange', onRoute);

  if (!location.hash || location.hash === '#' || location.hash === '#/') history.replaceState(null, '', '#/flow-runs');
  loadHealth();
  onRoute();
})();
