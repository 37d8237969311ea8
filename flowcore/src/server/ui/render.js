// flowcore web UI: HTML renderers shared by several pages (state badges, tags, key-value lists,
// state history, a flow run's row in a list, a deployment's schedule in words).

import { deploymentName } from './known-deployments.js';
import {
  escape, expectedStart, flowHref, flowRunHref, deploymentHref, fmtAgo, fmtDuration, fmtTime, isFailure, isFinal,
  parseTs, plural, runDuration, stateType, WORK_QUEUES_HREF,
} from './util.js';

export function badge(state) {
  const type = stateType(state);
  const name = state ? state.name || state.type : 'No state';
  return `<span class="state-badge state-${type}" data-testid="state-badge">${escape(name)}</span>`;
}

export function chips(tags) {
  return (tags || []).map((t) => `<span class="chip" data-testid="tag">${escape(t)}</span>`).join('');
}

export function pausedBadge(paused, what = 'schedule') {
  return paused ? `<span class="pause-badge" data-testid="paused-badge" title="The ${escape(what)} is paused">Paused</span>` : '';
}

export const errorInline = (e) => `<div class="error-box">${escape(e.message || String(e))}</div>`;

export const kv = (rows) => `<dl class="kv">${rows.filter(Boolean)
  .map(([k, v]) => `<dt>${escape(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;

// State message: a prominent red box for a failure, a plain line otherwise.
export function stateMessage(state) {
  if (!state || !state.message) return '';
  const cls = isFailure(state) ? 'failure-box' : 'state-message';
  return `<div class="${cls}" data-testid="state-message">${escape(state.message)}</div>`;
}

export function timingRows(run) {
  return [
    ['Created', escape(fmtTime(run.created))],
    run.expected_start_time ? ['Expected start', escape(fmtTime(run.expected_start_time))] : null,
    ['Start', escape(fmtTime(run.start_time))],
    ['End', escape(fmtTime(run.end_time))],
    ['Duration', escape(fmtDuration(runDuration(run)))],
  ];
}

export function stateHistory(states) {
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

export function flowRunRow(r) {
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

export function scheduleWords(d) {
  if (d.schedule_description) return d.schedule_description;
  const s = d.schedule;
  if (!s) return 'No schedule (ad hoc)';
  if (s.type === 'interval') return `every ${fmtDuration(s.interval_s)}`;
  if (s.type === 'cron') return `cron "${s.cron}"${s.timezone ? ` (${s.timezone})` : ''}`;
  return String(s.type || 'unknown schedule');
}

export const queueLink = (name) => (name
  ? `<a href="${WORK_QUEUES_HREF}" data-testid="work-queue-link">${escape(name)}</a>` : '<span class="muted">—</span>');
