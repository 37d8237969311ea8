// flowcore web UI: automations, #/automations (webhooks notified of flow-run transitions): their
// delivery counts, pause/resume, and the latest deliveries of the one selected (?name=…).

import { api, send } from '../api.js';
import { updateQuery } from '../nav.js';
import { Page } from '../page.js';
import { chips, pausedBadge } from '../render.js';
import { enc, escape, flowRunHref, fmtAgo, fmtTime, plural, setHTML } from '../util.js';

function deliveryRow(d) {
  const status = d.status === 'delivered' ? 'COMPLETED' : d.status === 'failed' ? 'FAILED' : 'PENDING';
  return `<tr data-testid="delivery-row">
      <td><span class="badge state-${status.toLowerCase()}">${escape(d.status)}</span></td>
      <td>${escape(d.state)}</td>
      <td><a href="${flowRunHref(d.flow_run_id)}">${escape((d.body && d.body.flow_run && d.body.flow_run.name) || d.flow_run_id)}</a></td>
      <td class="num">${escape(d.attempts)}</td>
      <td title="${escape(fmtTime(d.created))}">${escape(fmtAgo(d.created))}</td>
      <td class="muted">${escape(d.last_error || '')}</td></tr>`;
}

export class AutomationsPage extends Page {
  title() { return 'Automations'; }
  skeleton() {
    return `<div class="page-head"><h1>Automations</h1><span class="run-count" data-part="count"></span></div>
        <div data-part="list" data-loading><p class="muted">Loading…</p></div>
        <div data-part="deliveries"></div>`;
  }
  bind() {
    this.root.addEventListener('click', (e) => {
      const btn = e.target.closest('[data-action="automation-pause"]');
      if (btn && !btn.disabled && this.data) {
        const a = this.data.list.find((x) => x.name === btn.dataset.name);
        if (!a) return;
        this.act(`pause:${a.name}`, () => send('POST', `/automations/${enc(a.name)}/${a.paused ? 'resume' : 'pause'}`));
        return;
      }
      const row = e.target.closest('[data-testid="automation-row"]');
      if (row && !e.target.closest('a,button')) updateQuery(this, new URLSearchParams({ name: row.dataset.name }), true);
    });
  }
  async fetch() {
    const list = (await api('/automations')).results || [];
    const name = this.query.get('name') || (list[0] && list[0].name);
    const detail = name && list.some((a) => a.name === name) ? await api(`/automations/${enc(name)}`) : null;
    return { list, detail };
  }
  isActive() { return this.data.list.some((a) => a.pending > 0); }
  render() {
    const { list, detail } = this.data;
    setHTML(this.part('count'), escape(plural(list.length, 'Automation')));
    if (!list.length) {
      setHTML(this.part('list'), `<div class="empty"><p class="empty-title" data-testid="empty-state">No automations yet</p>
          <p class="muted">Be told when runs fail: <code>flowcore automation create on-failure --on Failed,Crashed,TimedOut --webhook URL</code></p></div>`);
      setHTML(this.part('deliveries'), '');
      return;
    }
    const rows = list.map((a) => `<tr data-testid="automation-row" data-name="${escape(a.name)}" class="clickable${detail && detail.automation.id === a.id ? ' selected' : ''}">
          <td class="strong">${escape(a.name)} ${pausedBadge(a.paused, 'automation')}</td>
          <td>${chips(a.on)}</td>
          <td>${chips([...a.flows, ...a.deployments, ...a.tags])}</td>
          <td class="muted small">${escape(a.webhook)}</td>
          <td class="num" data-testid="delivered">${escape(a.delivered)}</td>
          <td class="num">${escape(a.pending)}</td>
          <td class="num">${escape(a.failed)}</td>
          <td><button type="button" class="btn small" data-action="automation-pause" data-name="${escape(a.name)}"
            ${this.busy === `pause:${a.name}` ? 'disabled' : ''}>${a.paused ? 'Resume' : 'Pause'}</button></td></tr>`).join('');
    setHTML(this.part('list'), `<section class="card flush"><div class="table-wrap"><table class="table"><thead><tr><th>Automation</th>
        <th>On</th><th>Only</th><th>Webhook</th><th class="num">Delivered</th><th class="num">Pending</th><th class="num">Failed</th><th></th>
        </tr></thead><tbody>${rows}</tbody></table></div></section>`);
    if (!detail) { setHTML(this.part('deliveries'), ''); return; }
    const deliveries = detail.deliveries.length
      ? `<div class="table-wrap"><table class="table"><thead><tr><th>Status</th><th>State</th><th>Flow run</th><th class="num">Attempts</th>
          <th>When</th><th>Last error</th></tr></thead><tbody>${detail.deliveries.map(deliveryRow).join('')}</tbody></table></div>`
      : '<p class="muted">No deliveries yet.</p>';
    setHTML(this.part('deliveries'), `<section class="card"><h2>Deliveries of ${escape(detail.automation.name)}</h2>${deliveries}</section>`);
  }
}
