// flowcore web UI: plain ES2020 modules, no dependencies, no build step.
// The server embeds every file of this folder and serves it under /ui/ (index at /); this entry
// module is loaded by index.html with <script type="module" src="/ui/app.js">.
//
// Modules (imports only point down this list, so there are no cycles):
//   app.js                     router, refresh loop, server info, boot (this file)
//   pages/*.js                 one page each: flow-runs, flow-run, task-run, flows, deployments,
//                              deployment, work-queues, concurrency-limits, automations,
//                              artifacts, not-found
//   page.js                    the Page base class
//   charts.js  logs.js         SVG charts; the Logs section
//   artifact-view.js           how an artifact shows (markdown, table, link)
//   render.js                  shared HTML renderers (badges, key-value lists, flow run rows…)
//   known-deployments.js       deployment names by id
//   nav.js  api.js  util.js    route state + hash query; /api requests; helpers (no imports)

import { api } from './api.js';
import { app, setRouter } from './nav.js';
import { ArtifactsPage } from './pages/artifacts.js';
import { AutomationsPage } from './pages/automations.js';
import { ConcurrencyLimitsPage } from './pages/concurrency-limits.js';
import { DeploymentPage } from './pages/deployment.js';
import { DeploymentsPage } from './pages/deployments.js';
import { FlowRunPage } from './pages/flow-run.js';
import { FlowRunsPage } from './pages/flow-runs.js';
import { FlowsPage } from './pages/flows.js';
import { NotFoundPage } from './pages/not-found.js';
import { TaskRunPage } from './pages/task-run.js';
import { WorkQueuesPage } from './pages/work-queues.js';

const FAST_REFRESH_MS = 2000;
const SLOW_REFRESH_MS = 10000;

const ROUTES = [
  [/^\/flow-runs\/?$/, () => new FlowRunsPage(null)],
  [/^\/flow-runs\/([^/]+)$/, (m) => new FlowRunPage(decodeURIComponent(m[1]))],
  [/^\/task-runs\/([^/]+)$/, (m) => new TaskRunPage(decodeURIComponent(m[1]))],
  [/^\/flows\/?$/, () => new FlowsPage()],
  [/^\/flows\/([^/]+)$/, (m) => new FlowRunsPage(decodeURIComponent(m[1]))],
  [/^\/deployments\/?$/, () => new DeploymentsPage()],
  [/^\/deployments\/([^/]+)$/, (m) => new DeploymentPage(decodeURIComponent(m[1]))],
  [/^\/work-queues\/?$/, () => new WorkQueuesPage()],
  [/^\/automations\/?$/, () => new AutomationsPage()],
  [/^\/artifacts\/?$/, () => new ArtifactsPage()],
  [/^\/concurrency-limits\/?$/, () => new ConcurrencyLimitsPage()],
];

function parseHash() {
  const h = location.hash.replace(/^#/, '') || '/flow-runs';
  const i = h.indexOf('?');
  return { path: i < 0 ? h : h.slice(0, i), query: new URLSearchParams(i < 0 ? '' : h.slice(i + 1)) };
}

function onRoute() {
  const { path, query } = parseHash();
  if (app.page && path === app.path) { // same page, new query: keep the DOM, re-fetch
    app.page.setQuery(query);
    if (app.page.data) app.page.render();
    tick();
    return;
  }
  clearTimeout(app.timer);
  app.path = path;
  let page = null;
  for (const [re, make] of ROUTES) {
    const m = path.match(re);
    if (m) { page = make(m); break; }
  }
  app.page = page || new NotFoundPage();
  app.page.mount(document.getElementById('app'));
  app.page.setQuery(query);
  document.title = `${app.page.title()} · flowcore`;
  const section = path.split('/')[1] === 'task-runs' ? 'flow-runs' : path.split('/')[1];
  document.querySelectorAll('[data-nav]').forEach((a) => a.classList.toggle('active', a.dataset.nav === section));
  window.scrollTo(0, 0);
  if (page) tick();
}

// Fetch + render the current page, then schedule the next refresh: fast while something is
// still running, slow otherwise. A newer tick (or route) makes older responses stale.
async function tick() {
  const seq = ++app.seq;
  const page = app.page;
  clearTimeout(app.timer);
  let data = null;
  let err = null;
  try { data = await page.fetch(); } catch (e) { err = e; }
  if (seq !== app.seq || page !== app.page) return;
  if (err) {
    page.showError(err);
  } else {
    page.showError(null);
    page.data = data;
    try { page.render(); } catch (e) { page.showError(e); console.error(e); }
  }
  const fast = !err && page.data && page.isActive();
  app.timer = setTimeout(tick, fast ? FAST_REFRESH_MS : SLOW_REFRESH_MS);
}

async function loadHealth() {
  const el = document.querySelector('[data-testid="server-info"]');
  try {
    const h = await api('/health');
    el.textContent = `${h.backend || 'unknown'} · v${h.version || '?'}`;
    el.title = `flowcore server ${h.version || ''}, ${h.backend || ''} backend, status ${h.status || '?'}`;
    el.classList.remove('down');
  } catch (e) {
    el.textContent = 'server unreachable';
    el.title = e.message;
    el.classList.add('down');
    setTimeout(loadHealth, SLOW_REFRESH_MS);
  }
}

let resizeTimer = null;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { if (app.page && app.page.data) app.page.render(); }, 150);
});
document.addEventListener('click', (e) => { // click outside a filter dropdown closes it
  document.querySelectorAll('details.multi[open]').forEach((d) => { if (!d.contains(e.target)) d.open = false; });
});
window.addEventListener('hashchange', onRoute);

setRouter(onRoute, tick);
if (!location.hash || location.hash === '#' || location.hash === '#/') history.replaceState(null, '', '#/flow-runs');
loadHealth();
onRoute();
