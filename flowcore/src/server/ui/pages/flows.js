// flowcore web UI: the flows list, #/flows.

import { api } from '../api.js';
import { Page } from '../page.js';
import { badge } from '../render.js';
import { escape, flowHref, flowRunHref, fmtAgo, fmtTime, isFinal, plural, setHTML } from '../util.js';

export class FlowsPage extends Page {
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
