// flowcore web UI: artifacts, #/artifacts (each key with its latest artifact) and
// #/artifacts?key=… (that key's history, newest first).

import { api } from '../api.js';
import { artifactCard } from '../artifact-view.js';
import { Page } from '../page.js';
import { enc, escape, flowRunHref, plural, setHTML } from '../util.js';

export class ArtifactsPage extends Page {
  title() { return 'Artifacts'; }
  skeleton() {
    return `<div class="page-head"><h1 data-part="heading">Artifacts</h1><span class="run-count" data-part="count"></span></div>
        <div data-part="list" data-loading><p class="muted">Loading…</p></div>`;
  }
  async fetch() {
    const key = this.query.get('key');
    const data = await api(key ? `/artifacts?key=${enc(key)}&limit=100` : '/artifacts?limit=1000');
    return { key, list: data.results || [] };
  }
  render() {
    const { key, list } = this.data;
    setHTML(this.part('heading'), key ? `<a href="#/artifacts">Artifacts</a> <span class="sep">›</span> ${escape(key)}` : 'Artifacts');
    const shown = key ? list : list.filter((a, i) => list.findIndex((b) => b.key === a.key) === i);
    setHTML(this.part('count'), escape(key ? plural(list.length, 'version') : plural(shown.length, 'key')));
    if (!shown.length) {
      setHTML(this.part('list'), `<div class="empty"><p class="empty-title" data-testid="empty-state">No artifacts yet</p>
          <p class="muted">A run publishes one with <code>flowcore::artifacts::create_table("model-report", &amp;rows)</code></p></div>`);
      return;
    }
    setHTML(this.part('list'), shown.map((a) => `<section class="card">
        <div class="artifact-links">${key ? '' : `<a href="#/artifacts?key=${enc(a.key)}" data-testid="artifact-key">${escape(a.key)}</a> · history`}
          ${a.flow_run_id ? ` <a href="${flowRunHref(a.flow_run_id)}">flow run ↗</a>` : ''}</div>
        ${artifactCard(a, key ? new Date(a.created).toLocaleString() : a.key)}</section>`).join(''));
  }
}
