// flowcore web UI: one task run, #/task-runs/<id> (details, inputs, state history, logs).

import { api, soft } from '../api.js';
import { bindLogLevel, logsSection, renderLogs } from '../logs.js';
import { Page } from '../page.js';
import { badge, chips, kv, stateHistory, stateMessage, timingRows } from '../render.js';
import { enc, escape, flowHref, flowRunHref, isFinal, setHTML, taskRunHref } from '../util.js';

export class TaskRunPage extends Page {
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
          <section class="card"><h2>Result</h2><div data-testid="task-result" data-part="result"></div></section>
          <section class="card"><h2>State history</h2><div data-part="states"></div></section>
          ${logsSection()}
        </div>`;
  }
  bind() { bindLogLevel(this); }
  async fetch() {
    const base = `/task_runs/${enc(this.id)}`;
    const [run, states, logs, result] = await Promise.all([
      api(base), soft(api(`${base}/states`)), soft(api(`${base}/logs`)), soft(api(`${base}/result`)),
    ]);
    // Sibling task runs give the inputs' upstream runs a name and a state.
    const siblings = run.inputs && run.inputs.length && run.flow_run_id
      ? await soft(api(`/flow_runs/${enc(run.flow_run_id)}/task_runs`)) : { results: [] };
    return { run, states, logs, result, siblings: new Map((siblings.results || []).map((t) => [t.id, t])) };
  }
  isActive() { return !isFinal(this.data.run.state); }
  render() {
    const { run, states, logs, result, siblings } = this.data;
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
    setHTML(this.part('result'), resultView(run, result));
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

// The task run's persisted result (persist_result / caching): its value as JSON and where it came from.
function resultView(run, result) {
  if (result && result.error) {
    const msg = String(result.error.message || result.error);
    if (result.error.status === 404 || /no persisted result/.test(msg)) {
      return '<p class="muted" data-testid="no-result">Not persisted (set <code>persist_result = true</code> or a cache policy on the task)</p>';
    }
    return `<p class="error" data-testid="result-error">${escape(msg)}</p>`;
  }
  const reused = result.produced_by && result.produced_by !== run.id;
  const meta = kv([
    ['Type', `<code>${escape(result.type_name)}</code>`],
    ['Storage key', `<code>${escape(result.storage_key)}</code>`],
    result.cache_key ? ['Cache key', `<code>${escape(result.cache_key)}</code>`] : null,
    reused ? ['Reused from', `<a href="${taskRunHref(result.produced_by)}" data-testid="result-source">task run ${escape(result.produced_by)}</a>`] : null,
    result.expiration ? ['Expires', escape(result.expiration)] : null,
    ['Size', `${escape(result.size)} bytes`],
  ]);
  return `${meta}<pre class="code" data-testid="result-value">${escape(JSON.stringify(result.value, null, 2))}</pre>`;
}
