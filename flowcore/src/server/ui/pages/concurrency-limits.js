// flowcore web UI: tag concurrency limits, #/concurrency-limits — each limit, its slots in use and
// the task runs holding them.

import { api } from '../api.js';
import { Page } from '../page.js';
import { escape, fmtAgo, fmtTime, plural, setHTML, taskRunHref } from '../util.js';

export class ConcurrencyLimitsPage extends Page {
  title() { return 'Concurrency Limits'; }
  skeleton() {
    return `<div class="page-head"><h1>Concurrency Limits</h1><span class="run-count" data-part="count"></span></div>
        <div data-part="list" data-loading><p class="muted">Loading…</p></div>`;
  }
  async fetch() { return api('/concurrency_limits'); }
  isActive() { return (this.data.results || []).some((l) => l.active_slots.length > 0); }
  render() {
    const limits = this.data.results || [];
    setHTML(this.part('count'), escape(plural(limits.length, 'Limit')));
    if (!limits.length) {
      setHTML(this.part('list'), `<div class="empty"><p class="empty-title" data-testid="empty-state">No concurrency limits</p>
          <p class="muted">Cap the task runs of a tag: <code>flowcore concurrency-limit create db 2</code></p></div>`);
      return;
    }
    const holders = (l) => (l.active_slots.length
      ? l.active_slots.map((s) => `<a href="${taskRunHref(s.task_run_id)}" title="${escape(`since ${fmtTime(s.acquired)}`)}">${escape(s.task_run_name || s.task_run_id)}</a>
          <span class="muted small">${escape(fmtAgo(s.acquired))}</span>`).join('<br>')
      : '<span class="muted">none</span>');
    const rows = limits.map((l) => `<tr data-testid="concurrency-limit-row" data-tag="${escape(l.tag)}">
        <td class="strong">${escape(l.tag)}</td>
        <td class="num">${escape(l.limit)}</td>
        <td class="num" data-testid="active-slots">${escape(l.active_slots.length)}</td>
        <td>${holders(l)}</td></tr>`).join('');
    setHTML(this.part('list'), `<section class="card flush"><div class="table-wrap"><table class="table"><thead><tr><th>Tag</th>
        <th class="num">Limit</th><th class="num">Active slots</th><th>Held by</th></tr></thead><tbody>${rows}</tbody></table></div></section>`);
  }
}
