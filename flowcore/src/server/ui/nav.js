// flowcore web UI: the current route and the hash query, with no imports of its own.
// The router (app.js) registers its callbacks here with setRouter(), so pages can refresh and
// change the query without importing the router.

const enc = encodeURIComponent;

export const app = { page: null, path: null, timer: null, seq: 0 };

// Filled in by app.js: onRoute() re-reads the hash, tick() fetches and renders the current page now.
const router = { onRoute: () => {}, tick: () => {} };
export function setRouter(onRoute, tick) {
  router.onRoute = onRoute;
  router.tick = tick;
}

// Fetch + render the current page now (and reschedule its refresh).
export const refresh = () => router.tick();

// Readable hash query: list values stay comma-separated, each value percent-encoded.
function queryString(q) {
  const parts = [];
  for (const [k, v] of q) parts.push(`${enc(k)}=${v.split(',').map((x) => enc(x).replace(/%3A/gi, ':')).join(',')}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

// push: a new history entry (hashchange does the rest); otherwise replace it in place.
export function updateQuery(page, q, push) {
  const hash = `#${page.basePath ? page.basePath() : app.path}${queryString(q)}`;
  if (hash === location.hash) return;
  if (push) location.hash = hash;
  else { history.replaceState(null, '', hash); router.onRoute(); }
}
