// flowcore web UI: requests to the server's JSON API under /api, with the API key kept in this
// browser (asked for once when the server answers 401). No imports of its own.

const enc = encodeURIComponent;

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

const KEY_STORAGE = 'flowcore-api-key';

function authHeaders(json) {
  const headers = { Accept: 'application/json' };
  if (json) headers['Content-Type'] = 'application/json';
  const key = window.localStorage.getItem(KEY_STORAGE);
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

// One JSON request; errors become ApiError with the server's {"error": "..."} message.
async function request(method, path, params, body) {
  let url = `/api${path}`;
  if (params) {
    const qs = Object.entries(params)
      .filter(([, v]) => v !== undefined && v !== null && v !== '')
      .map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
    if (qs) url += `?${qs}`;
  }
  const init = () => ({
    method, cache: 'no-store', headers: authHeaders(body !== undefined),
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  let res;
  try {
    res = await fetch(url, init());
    // A server started with --api-key: ask for the key once and keep it in this browser.
    if (res.status === 401) {
      const key = window.prompt('This flowcore server requires an API key:');
      if (key) {
        window.localStorage.setItem(KEY_STORAGE, key);
        res = await fetch(url, init());
      }
    }
  } catch (e) {
    throw new ApiError(`Cannot reach the flowcore server (${e.message})`, 0);
  }
  const text = await res.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch (_) { /* reported below */ }
  if (!res.ok) {
    const msg = parsed && typeof parsed.error === 'string' ? parsed.error : text.slice(0, 300) || res.statusText;
    throw new ApiError(`${msg} (HTTP ${res.status})`, res.status);
  }
  if (parsed === null) throw new ApiError(`Invalid JSON from ${method} ${url}`, res.status);
  return parsed;
}

export const api = (path, params) => request('GET', path, params);
// POST / PUT / DELETE; body (optional) is sent as JSON.
export const send = (method, path, body) => request(method, path, null, body);

// A secondary request whose failure should show inside its own section, not break the page.
export const soft = (promise) => promise.catch((error) => ({ error }));
