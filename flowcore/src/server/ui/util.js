// flowcore web UI: helpers shared by every module, with no imports of its own.
//   escaping and DOM updates · number, time and duration formatting · run state predicates · links

const FINAL_TYPES = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED']);
const STATE_TYPES = ['SCHEDULED', 'PENDING', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED'];

export const enc = encodeURIComponent;

export function escape(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) =>
    ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

// Replace an element's content only when the markup changed, so a refresh that brings nothing
// new leaves hover, tooltips, selection and scroll positions alone.
export function setHTML(el, html) {
  if (el && el._html !== html) {
    el.innerHTML = html;
    el._html = html;
  }
}

export const pad = (n, width = 2) => String(n).padStart(width, '0');
export const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
export const truncate = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
export const listParam = (q, key) => (q.get(key) || '').split(',').filter(Boolean);

// Accepts RFC 3339 with any number of fraction digits; returns epoch ms or null.
export function parseTs(ts) {
  if (ts == null || ts === '') return null;
  const t = Date.parse(String(ts).replace(/(\.\d{3})\d+/, '$1'));
  return Number.isNaN(t) ? null : t;
}

const DATE_TIME_FMT = { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' };
export function fmtTime(ts) {
  const t = parseTs(ts);
  return t == null ? '—' : new Date(t).toLocaleString(undefined, DATE_TIME_FMT);
}

// Short form for tables: "Nov 27, 07:44" (the full time goes in a tooltip).
const SHORT_FMT = { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' };
export function fmtShort(ts) {
  const t = parseTs(ts);
  return t == null ? '—' : new Date(t).toLocaleString(undefined, SHORT_FMT);
}

export function fmtClock(ms, millis = false) {
  if (ms == null) return '—';
  const d = new Date(ms);
  const s = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return millis ? `${s}.${pad(d.getMilliseconds(), 3)}` : s;
}

export function fmtDuration(seconds) {
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

export function fmtAgo(ts) {
  const t = parseTs(ts);
  if (t == null) return '—';
  const d = (Date.now() - t) / 1000;
  if (Math.abs(d) < 5) return 'just now';
  const text = fmtDuration(Math.abs(d)).split(' ')[0];
  return d > 0 ? `${text} ago` : `in ${text}`;
}

// <input type="datetime-local"> value (local wall time) <-> RFC 3339 (UTC) kept in the hash.
export function toLocalInput(iso) {
  const t = parseTs(iso);
  if (t == null) return '';
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
export function fromLocalInput(value) {
  const d = value ? new Date(value) : null;
  return d && !Number.isNaN(d.getTime()) ? d.toISOString() : '';
}

export const stateType = (state) => (state && STATE_TYPES.includes(state.type) ? state.type : 'NONE');
export const isFinal = (state) => !!state && FINAL_TYPES.has(state.type);
export const isFailure = (state) => !!state && (state.type === 'FAILED' || state.type === 'CRASHED');

// Seconds between start and end; an unfinished run counts up to now.
export function spanSeconds(start, end, state) {
  const s = parseTs(start);
  if (s == null) return null;
  const e = parseTs(end) ?? (isFinal(state) ? null : Date.now());
  return e == null ? null : Math.max(0, (e - s) / 1000);
}
export const runDuration = (run) => run.duration_s ?? spanSeconds(run.start_time, run.end_time, run.state);

export const flowRunHref = (id) => `#/flow-runs/${enc(id)}`;
export const taskRunHref = (id) => `#/task-runs/${enc(id)}`;
export const flowHref = (name) => `#/flows/${enc(name)}`;
export const deploymentHref = (id) => `#/deployments/${enc(id)}`;
export const WORK_QUEUES_HREF = '#/work-queues';

// A scheduled run that has not started: when it is expected to (null when it has started or has no time).
export const expectedStart = (run) => (!run.start_time && run.expected_start_time ? run.expected_start_time : null);
// Worth a fast refresh: started and unfinished, or scheduled and already due.
export function isLive(run) {
  if (!run || isFinal(run.state)) return false;
  if (stateType(run.state) !== 'SCHEDULED') return true;
  const t = parseTs(run.expected_start_time);
  return t == null || t <= Date.now();
}
