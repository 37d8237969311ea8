// flowcore web UI: the deployments list, #/deployments.

import { api } from '../api.js';
import { rememberDeployments } from '../known-deployments.js';
import { Page } from '../page.js';
import { badge, chips, pausedBadge, queueLink, scheduleWords } from '../render.js';
import { deploymentHref, escape, flowRunHref, fmtAgo, fmtShort, fmtTime, isLive, plural, setHTML } from '../util.js';

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

export class DeploymentsPage extends Page {
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
