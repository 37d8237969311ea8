// flowcore web UI: one flow run, #/flow-runs/<id> (details, task graph, timeline, task runs, logs, states).

import { api, send, soft } from '../api.js';
import { artifactCard } from '../artifact-view.js';
import { graphChart, timelineChart } from '../charts.js';
import { deploymentName, loadDeploymentNames } from '../known-deployments.js';
import { bindLogLevel, logsSection, renderLogs } from '../logs.js';
import { Page } from '../page.js';
import { badge, chips, errorInline, kv, stateHistory, stateMessage, timingRows } from '../render.js';
import {
  deploymentHref, enc, escape, flowHref, flowRunHref, fmtDuration, fmtTime, isFinal, setHTML, spanSeconds, taskRunHref,
  WORK_QUEUES_HREF,
} from '../util.js';

export class FlowRunPage extends Page {
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
          <section class="card" data-part="artifacts-card" hidden><h2>Artifacts</h2><div data-testid="run-artifacts" data-part="artifacts"></div></section>
          ${logsSection()}
          <section class="card"><h2>State history</h2><div data-part="states"></div></section>
        </div>`;
  }
  bind() {
    bindLogLevel(this);
    this.root.addEventListener('click', (e) => {
      const retry = e.target.closest('[data-action="retry-run"]');
      if (retry && !retry.disabled && this.data) {
        // eslint-disable-next-line no-alert
        if (!window.confirm(`Retry flow run ${this.data.run.name}? It runs again under the same id; task runs with persisted results are reused.`)) return;
        this.act('retry', async () => {
          this.data.run = await send('POST', `/flow_runs/${enc(this.id)}/retry`);
        });
        return;
      }
      const btn = e.target.closest('[data-action="cancel-run"]');
      if (!btn || btn.disabled || !this.data) return;
      // eslint-disable-next-line no-alert
      if (!window.confirm(`Cancel flow run ${this.data.run.name}? Its tasks stop; it ends Cancelled.`)) return;
      this.act('cancel', async () => {
        this.data.run = await send('POST', `/flow_runs/${enc(this.id)}/cancel`);
      });
    });
  }
  async fetch() {
    const base = `/flow_runs/${enc(this.id)}`;
    const [run, tasks, graph, logs, states, artifacts] = await Promise.all([
      api(base), soft(api(`${base}/task_runs`)), soft(api(`${base}/graph`)), soft(api(`${base}/logs`)), soft(api(`${base}/states`)),
      soft(api(`/artifacts?flow_run=${enc(this.id)}`)),
    ]);
    if (!run.deployment_name) await loadDeploymentNames([run.deployment_id]);
    return { run, tasks: tasks.error ? tasks : tasks.results || [], graph, logs, states, artifacts: artifacts.results || [] };
  }
  isActive() {
    const { run, tasks } = this.data;
    return !isFinal(run.state) || (!tasks.error && tasks.some((t) => !isFinal(t.state)));
  }
  render() {
    const { run, tasks, graph, logs, states, artifacts } = this.data;
    document.title = `${this.title()} · flowcore`;
    setHTML(this.part('header'), `<nav class="breadcrumb" data-testid="breadcrumb">
          <a href="${flowHref(run.flow_name)}">${escape(run.flow_name)}</a> <span class="sep">›</span> <span>${escape(run.name)}</span></nav>
        <div class="title-row"><h1>${escape(run.name)}</h1>${badge(run.state)}
          ${run.parent_flow_run_id ? `<a class="chip chip-link" href="${flowRunHref(run.parent_flow_run_id)}" data-testid="parent-link">subflow of parent run ↗</a>` : ''}
          ${isFinal(run.state) || (run.state && run.state.name === 'Cancelling') ? '' : `<div class="actions"><button type="button" class="btn" data-action="cancel-run"
            data-testid="cancel-run"${this.busy ? ' disabled' : ''}>${this.busy === 'cancel' ? 'Cancelling…' : 'Cancel'}</button></div>`}
          ${run.state && ['FAILED', 'CRASHED', 'CANCELLED'].includes(run.state.type) ? `<div class="actions"><button type="button" class="btn" data-action="retry-run"
            data-testid="retry-run"${this.busy ? ' disabled' : ''}>${this.busy === 'retry' ? 'Retrying…' : 'Retry'}</button></div>` : ''}</div>
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
    this.part('artifacts-card').hidden = !artifacts.length;
    setHTML(this.part('artifacts'), artifacts.map((a) => artifactCard(a, a.key)).join(''));
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
