// flowcore web UI: the base class of every page (mounting, parts, error box, button actions).

import { app, refresh } from './nav.js';

export class Page {
  constructor() {
    this.data = null;
    this.query = new URLSearchParams();
    this.root = null;
  }
  title() { return 'flowcore'; }
  // Each page gets its own element: the listeners bind() adds go away with it.
  mount(container) {
    this.root = document.createElement('div');
    this.root.className = 'page';
    this.root.innerHTML = `<div class="error-box page-error" data-testid="error-box" data-part="error" role="alert" hidden></div>${this.skeleton()}`;
    container.replaceChildren(this.root);
    this.bind();
  }
  skeleton() { return ''; }
  bind() {}
  setQuery(q) { this.query = q; }
  part(name) { return this.root.querySelector(`[data-part="${name}"]`); }
  // A failed load (cleared by the next good one) or a failed action (kept until the next action).
  showError(err) {
    this.loadError = err;
    this.paintError();
    // Before the first successful load, an error replaces the "Loading…" placeholders.
    if (!err || !this.data) this.root.querySelectorAll('[data-loading]').forEach((el) => { el.hidden = !!err; });
  }
  showActionError(err) {
    this.actionError = err;
    this.paintError();
  }
  paintError() {
    const box = this.part('error');
    const msgs = [this.loadError, this.actionError].filter(Boolean).map((e) => e.message || String(e));
    box.hidden = !msgs.length;
    box.textContent = msgs.join('\n');
  }
  // Run a button's request: the button is disabled meanwhile (this.busy names it for re-renders),
  // a failure goes to the error box, success re-renders and refreshes.
  async act(name, fn) {
    if (this.busy) return;
    this.busy = name;
    this.showActionError(null);
    if (this.data) this.render();
    try {
      await fn();
    } catch (e) {
      this.showActionError(e);
    } finally {
      this.busy = null;
      if (this.data && app.page === this && !this.leaving) { this.render(); refresh(); }
    }
  }
  isActive() { return false; }
  async fetch() { return null; }
  render() {}
}
