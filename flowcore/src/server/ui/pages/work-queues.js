// flowcore web UI: the work queues, #/work-queues (pause/resume, concurrency limits).

import { api, send } from '../api.js';
import { Page } from '../page.js';
import { pausedBadge } from '../render.js';
import { enc, escape, plural, setHTML } from '../util.js';

// Rows are kept across refreshes (keyed by queue name) and only their cells are updated, so the
// concurrency input being typed in is never replaced.

export class WorkQueuesPage extends Page {
  title() { return 'Work Queues'; }
  skeleton() {
    return `<div class="page-head"><h1>Work Queues</h1><span class="run-count" data-part="count"></span></div>
        <div data-part="list" data-loading><p class="muted">Loading…</p></div>`;
  }
  bind() {
    this.root.addEventListener('click', (e) => {
      const btn = e.target.closest('[data-action="queue-pause"]');
      if (!btn || btn.disabled || !this.data) return;
      const name = btn.closest('tr').dataset.queue;
      const q = this.queue(name);
      if (!q) return;
      this.act(`pause:${name}`, async () => {
        this.replace(await send('POST', `/work_queues/${enc(name)}/${q.paused ? 'resume' : 'pause'}`));
      });
    });
    this.root.addEventListener('input', (e) => { if (e.target.name === 'limit') e.target.dataset.dirty = '1'; });
    this.root.addEventListener('submit', (e) => {
      e.preventDefault();
      const form = e.target;
      const name = form.closest('tr').dataset.queue;
      const input = form.elements.limit;
      const raw = input.value.trim();
      const limit = raw === '' ? null : Number(raw);
      if (input.validity.badInput || (limit !== null && !(Number.isInteger(limit) && limit >= 0))) {
        this.showActionError(new Error(`Concurrency limit for ${name}: a whole number ≥ 0, or empty for unlimited`));
        return;
      }
      this.act(`limit:${name}`, async () => {
        const q = await send('PUT', `/work_queues/${enc(name)}/concurrency`, { concurrency_limit: limit });
        this.replace(q);
        delete input.dataset.dirty;
        input.value = q.concurrency_limit == null ? '' : String(q.concurrency_limit);
        const note = form.querySelector('[data-part="saved"]');
        note.hidden = false;
        setTimeout(() => { note.hidden = true; }, 2000);
      });
    });
  }
  queue(name) { return (this.data.results || []).find((q) => q.name === name); }
  replace(q) {
    const list = this.data.results || [];
    const i = list.findIndex((x) => x.name === q.name);
    if (i >= 0) list[i] = q;
  }
  async fetch() { return api('/work_queues'); }
  isActive() { return (this.data.results || []).some((q) => q.running_count > 0); }
  render() {
    const queues = this.data.results || [];
    setHTML(this.part('count'), escape(plural(this.data.count ?? queues.length, 'Work queue')));
    const list = this.part('list');
    if (!queues.length) {
      setHTML(list, `<div class="empty"><p class="empty-title" data-testid="empty-state">No work queues yet</p>
          <p class="muted">A queue appears when a deployment names it, for example <code>cargo run --example deploy</code></p></div>`);
      return;
    }
    setHTML(list, `<section class="card flush"><div class="table-wrap"><table class="table queues"><thead><tr><th>Work queue</th><th>Status</th>
        <th class="num">Concurrency limit</th><th class="num">Scheduled</th><th class="num">Running</th><th></th><th>Set concurrency limit</th>
        </tr></thead><tbody data-part="rows"></tbody></table></div></section>`);
    const tbody = this.part('rows');
    const old = new Map([...tbody.children].map((tr) => [tr.dataset.queue, tr]));
    queues.forEach((q, i) => {
      let tr = old.get(q.name);
      old.delete(q.name);
      if (!tr) tr = this.newRow(q.name);
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] || null);
      this.fillRow(tr, q);
    });
    old.forEach((tr) => tr.remove());
  }
  newRow(name) {
    const tr = document.createElement('tr');
    tr.dataset.testid = 'work-queue-row';
    tr.dataset.queue = name;
    tr.innerHTML = `<td data-cell="name"></td><td data-cell="status"></td><td class="num" data-cell="limit" data-testid="concurrency-limit"></td>
        <td class="num" data-cell="scheduled" data-testid="scheduled-count"></td><td class="num" data-cell="running" data-testid="running-count"></td>
        <td data-cell="toggle"></td>
        <td><form class="limit-form" data-testid="concurrency-form" autocomplete="off" novalidate>
          <input type="number" name="limit" min="0" step="1" inputmode="numeric" placeholder="unlimited" aria-label="Concurrency limit for ${escape(name)}" data-testid="concurrency-input">
          <button type="submit" class="btn" data-testid="concurrency-save">Save</button>
          <span class="saved-note" data-part="saved" hidden>Saved ✓</span></form></td>`;
    return tr;
  }
  fillRow(tr, q) {
    const cell = (name) => tr.querySelector(`[data-cell="${name}"]`);
    const runs = (states) => `#/flow-runs?work_queue=${enc(q.name)}&state=${states}`;
    setHTML(cell('name'), `<a class="strong" href="#/flow-runs?work_queue=${enc(q.name)}" title="Flow runs in this queue">${escape(q.name)}</a>`);
    setHTML(cell('status'), q.paused ? pausedBadge(true, 'queue') : '<span class="muted">Active</span>');
    setHTML(cell('limit'), q.concurrency_limit == null ? '<span class="muted">unlimited</span>' : escape(q.concurrency_limit));
    setHTML(cell('scheduled'), `<a href="${runs('Scheduled,Late')}">${escape(q.scheduled_count ?? 0)}</a>`);
    setHTML(cell('running'), `<a href="${runs('Running,Retrying')}">${escape(q.running_count ?? 0)}</a>`);
    const busy = this.busy === `pause:${q.name}`;
    setHTML(cell('toggle'), `<button type="button" class="btn" data-action="queue-pause" data-testid="queue-pause-toggle"${this.busy ? ' disabled' : ''}>${busy ? 'Saving…' : q.paused ? 'Resume' : 'Pause'}</button>`);
    const form = tr.querySelector('form');
    const input = form.elements.limit;
    if (!input.dataset.dirty && input !== document.activeElement) {
      const v = q.concurrency_limit == null ? '' : String(q.concurrency_limit);
      if (input.value !== v) input.value = v;
    }
    form.querySelector('button').disabled = !!this.busy;
  }
}
