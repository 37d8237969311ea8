// flowcore web UI: the flow runs list, #/flow-runs (also #/flows/<name>, with the flow filter preset).

import { api } from '../api.js';
import { scatterChart } from '../charts.js';
import { deploymentName, loadDeploymentNames } from '../known-deployments.js';
import { updateQuery } from '../nav.js';
import { Page } from '../page.js';
import { flowRunRow } from '../render.js';
import { enc, escape, fromLocalInput, isFinal, listParam, plural, setHTML, toLocalInput } from '../util.js';

const STATE_NAMES = ['Scheduled', 'Late', 'AwaitingRetry', 'Pending', 'Running', 'Retrying', 'Completed',
  'Cached', 'Failed', 'TimedOut', 'UpstreamFailed', 'Cancelled', 'Crashed'];
const NAME_TYPE = {
  Scheduled: 'SCHEDULED', Late: 'SCHEDULED', AwaitingRetry: 'SCHEDULED', Pending: 'PENDING',
  Running: 'RUNNING', Retrying: 'RUNNING', Completed: 'COMPLETED', Cached: 'COMPLETED', Failed: 'FAILED', TimedOut: 'FAILED',
  UpstreamFailed: 'CANCELLED', Cancelled: 'CANCELLED', Crashed: 'CRASHED',
};
const PAGE_SIZE = 50;
// [query key, label, key in /api/filters]
const MULTI_FILTERS = [
  ['state', 'States', 'states'], ['flow', 'Flows', 'flows'], ['deployment', 'Deployments', 'deployments'],
  ['work_queue', 'Work queues', 'work_queues'], ['tag', 'Tags', 'tags'],
];

export class FlowRunsPage extends Page {
  constructor(flow) {
    super();
    this.flow = flow; // null for the full list
    this.searchTimer = null;
  }
  title() { return this.flow == null ? 'Flow Runs' : `Flow ${this.flow}`; }
  basePath() { return this.flow == null ? '/flow-runs' : `/flows/${enc(this.flow)}`; }

  filters() {
    const q = this.query;
    const f = { since: q.get('since') || '', until: q.get('until') || '', name: q.get('name') || '',
      sort: q.get('sort') === 'oldest' ? 'oldest' : 'newest', offset: Math.max(0, parseInt(q.get('offset'), 10) || 0) };
    for (const [key] of MULTI_FILTERS) f[key] = listParam(q, key);
    if (this.flow != null) f.flow = [this.flow];
    return f;
  }
  hasFilters() {
    const f = this.filters();
    return !!(f.since || f.until || f.name) || MULTI_FILTERS.some(([key]) => f[key].length);
  }

  skeleton() {
    const crumb = this.flow == null ? '' : `<nav class="breadcrumb" data-testid="breadcrumb"><a href="#/flows">Flows</a> <span class="sep">›</span> <span>${escape(this.flow)}</span></nav>`;
    const heading = `<h1>${escape(this.flow == null ? 'Flow Runs' : this.flow)}</h1>`;
    const multis = MULTI_FILTERS.filter(([key]) => !(key === 'flow' && this.flow != null)).map(([key, label]) => `
        <details class="multi" data-key="${key}" data-testid="filter-${key.replace('_', '-')}">
          <summary><span class="multi-label">${label}</span> <span class="multi-value" data-part="sum-${key}">All</span></summary>
          <div class="multi-menu" data-part="menu-${key}"></div>
        </details>`).join('');
    return `${crumb}<div class="page-head">${heading}<span class="run-count" data-testid="run-count" data-part="count"></span></div>
        <form class="filters" data-part="filters" autocomplete="off">
          <label class="field">From <input type="datetime-local" name="since" data-testid="filter-since"></label>
          <label class="field">Until <input type="datetime-local" name="until" data-testid="filter-until"></label>
          ${multis}
          <input type="search" name="name" class="search" placeholder="Search by run name" data-testid="filter-search" aria-label="Search by run name">
          <label class="field">Sort <select name="sort" data-testid="filter-sort">
            <option value="newest">Newest</option><option value="oldest">Oldest</option></select></label>
          <button type="button" class="btn-link" data-action="clear" data-testid="clear-filters">Clear filters</button>
        </form>
        <section class="card chart-card" data-part="chart" hidden></section>
        <div class="run-list" data-part="list" data-loading><p class="muted">Loading…</p></div>
        <div data-part="pager"></div>`;
  }

  bind() {
    const form = this.part('filters');
    form.addEventListener('submit', (e) => { e.preventDefault(); this.applyControls(false); });
    form.addEventListener('change', (e) => { if (e.target.name !== 'name') this.applyControls(true); });
    form.addEventListener('input', (e) => {
      if (e.target.name !== 'name') return;
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => this.applyControls(false), 300);
    });
    form.addEventListener('toggle', (e) => { // one dropdown open at a time
      if (e.target.open) form.querySelectorAll('details.multi[open]').forEach((d) => { if (d !== e.target) d.open = false; });
    }, true);
    this.root.addEventListener('click', (e) => {
      const btn = e.target.closest('[data-action]');
      if (!btn) return;
      const action = btn.dataset.action;
      if (action === 'clear') updateQuery(this, new URLSearchParams(), true);
      if (action === 'prev' || action === 'next') {
        const q = new URLSearchParams(this.query);
        const off = this.filters().offset + (action === 'next' ? PAGE_SIZE : -PAGE_SIZE);
        if (off > 0) q.set('offset', off); else q.delete('offset');
        updateQuery(this, q, true);
        window.scrollTo(0, 0);
      }
    });
  }

  // Controls → hash query (any filter change goes back to the first page).
  applyControls(push) {
    const form = this.part('filters');
    const q = new URLSearchParams();
    const since = fromLocalInput(form.elements.since.value);
    const until = fromLocalInput(form.elements.until.value);
    if (since) q.set('since', since);
    if (until) q.set('until', until);
    for (const [key] of MULTI_FILTERS) {
      const vals = [...form.querySelectorAll(`input[type=checkbox][name="${key}"]:checked`)].map((c) => c.value);
      if (vals.length) q.set(key, vals.join(','));
    }
    const name = form.elements.name.value.trim();
    if (name) q.set('name', name);
    if (form.elements.sort.value === 'oldest') q.set('sort', 'oldest');
    updateQuery(this, q, push);
  }

  // Hash query → controls (leaves the control being typed in alone).
  setQuery(q) {
    super.setQuery(q);
    const form = this.part('filters');
    const f = this.filters();
    const put = (el, v) => { if (el !== document.activeElement && el.value !== v) el.value = v; };
    put(form.elements.since, toLocalInput(f.since));
    put(form.elements.until, toLocalInput(f.until));
    put(form.elements.name, f.name);
    put(form.elements.sort, f.sort);
    this.syncChecks();
  }
  syncChecks() {
    const f = this.filters();
    for (const [key] of MULTI_FILTERS) {
      const sum = this.part(`sum-${key}`);
      if (!sum) continue;
      this.part(`menu-${key}`).querySelectorAll('input[type=checkbox]').forEach((c) => { c.checked = f[key].includes(c.value); });
      sum.textContent = f[key].length ? f[key].map((v) => filterLabel(key, v, false)).join(', ') : 'All';
      sum.closest('details').classList.toggle('active', f[key].length > 0);
    }
  }

  renderMenus(options) {
    const f = this.filters();
    for (const [key, , optKey] of MULTI_FILTERS) {
      const menu = this.part(`menu-${key}`);
      if (!menu) continue;
      const known = key === 'state' ? STATE_NAMES : [];
      const values = [...new Set([...known, ...((options && options[optKey]) || []), ...f[key]])];
      if (key !== 'state') values.sort((a, b) => filterLabel(key, a).localeCompare(filterLabel(key, b)));
      setHTML(menu, values.length ? values.map((v) => `<label class="multi-option">
            <input type="checkbox" name="${key}" value="${escape(v)}">
            ${key === 'state' ? `<span class="dot-swatch st-${NAME_TYPE[v] || 'NONE'}"></span>` : ''}<span>${escape(filterLabel(key, v))}</span></label>`).join('')
        : '<p class="muted small">No values yet</p>');
    }
    this.syncChecks();
  }

  async fetch() {
    const f = this.filters();
    const params = { limit: PAGE_SIZE, offset: f.offset, sort: f.sort, since: f.since, until: f.until, name: f.name };
    for (const [key] of MULTI_FILTERS) if (f[key].length) params[key] = f[key].join(',');
    const [runs, options] = await Promise.all([api('/flow_runs', params), api('/filters').catch(() => null)]);
    await loadDeploymentNames([...((options && options.deployments) || []), ...f.deployment,
      ...(runs.results || []).filter((r) => !r.deployment_name).map((r) => r.deployment_id)]);
    return { runs, options };
  }

  isActive() { return !!this.data && (this.data.runs.results || []).some((r) => !isFinal(r.state)); }

  render() {
    const { runs, options } = this.data;
    const results = runs.results || [];
    const f = this.filters();
    this.renderMenus(options);
    setHTML(this.part('count'), escape(plural(runs.count, 'Flow run')));
    const chart = this.part('chart');
    chart.hidden = !results.length;
    if (results.length) setHTML(chart, scatterChart(results, Math.max(320, chart.clientWidth > 0 ? chart.clientWidth - 34 : 900)));

    let list;
    if (!runs.count && !this.hasFilters()) {
      list = `<div class="empty"><p class="empty-title" data-testid="empty-state">Run a flow to get started</p>
          <p class="muted">For example: <code>cargo run --example hello_flow</code></p></div>`;
    } else if (!runs.count) {
      list = `<div class="empty"><p class="empty-title" data-testid="empty-state">No flow runs match these filters</p>
          <button type="button" class="btn" data-action="clear">Clear filters</button></div>`;
    } else if (!results.length) {
      list = '<div class="empty"><p class="empty-title">No runs on this page</p></div>';
    } else {
      list = results.map(flowRunRow).join('');
    }
    setHTML(this.part('list'), list);

    const last = Math.min(runs.count, f.offset + results.length);
    setHTML(this.part('pager'), runs.count > PAGE_SIZE || f.offset > 0
      ? `<div class="pager" data-testid="pagination">
            <button type="button" class="btn" data-action="prev" data-testid="prev-page"${f.offset > 0 ? '' : ' disabled'}>‹ Previous</button>
            <span class="muted">${results.length ? f.offset + 1 : 0}–${last} of ${runs.count}</span>
            <button type="button" class="btn" data-action="next" data-testid="next-page"${f.offset + PAGE_SIZE < runs.count ? '' : ' disabled'}>Next ›</button></div>`
      : '');
  }
}

// The deployment filter holds ids; its menu and summary show names.
const filterLabel = (key, v, full = true) => (key === 'deployment' ? deploymentName(v, null, full) : v);
