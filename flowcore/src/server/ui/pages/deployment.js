// flowcore web UI: one deployment, #/deployments/<id> (details, schedule, entrypoint, parameters,
// next and recent runs, with the Run and Pause/Resume buttons).

import { api, send, soft } from '../api.js';
import { rememberDeployments } from '../known-deployments.js';
import { Page } from '../page.js';
import { badge, chips, errorInline, flowRunRow, kv, pausedBadge, queueLink, scheduleWords } from '../render.js';
import { enc, escape, flowHref, flowRunHref, fmtAgo, fmtDuration, fmtTime, isLive, setHTML } from '../util.js';

export class DeploymentPage extends Page {
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
