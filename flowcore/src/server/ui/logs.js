// flowcore web UI: the Logs section shared by the flow-run and task-run pages.

import { updateQuery } from './nav.js';
import { errorInline } from './render.js';
import { escape, flowRunHref, fmtClock, fmtTime, parseTs, plural, setHTML, taskRunHref } from './util.js';

const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARNING', 'ERROR'];

function levelOf(level) {
  const up = String(level || '').toUpperCase();
  if (up === 'WARN') return 'WARNING';
  return LOG_LEVELS.includes(up) ? up : 'INFO';
}

export function logsSection() {
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

export function renderLogs(page, logs) {
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

export function bindLogLevel(page) {
  page.part('level').addEventListener('change', (e) => {
    const q = new URLSearchParams(page.query);
    if (e.target.value === 'TRACE') q.delete('level'); else q.set('level', e.target.value);
    updateQuery(page, q, false);
  });
}
