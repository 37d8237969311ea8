// flowcore web UI: how an artifact shows — markdown as the HTML the server rendered (raw HTML
// already escaped there), tables as tables, links as links. Imports only util.js.

import { escape, fmtAgo, fmtTime } from './util.js';

// Rows of a table artifact: an array of records, or an object of equal-length columns.
function tableRows(data) {
  if (Array.isArray(data)) return data;
  if (data && typeof data === 'object') {
    const cols = Object.keys(data);
    const n = cols.length ? (data[cols[0]] || []).length : 0;
    return Array.from({ length: n }, (_, i) => Object.fromEntries(cols.map((c) => [c, (data[c] || [])[i]])));
  }
  return [];
}

function cell(v) {
  if (v === null || v === undefined) return '<span class="muted">—</span>';
  if (typeof v === 'number') return escape(Number.isInteger(v) ? v : v.toPrecision(6).replace(/\.?0+$/, ''));
  return escape(typeof v === 'object' ? JSON.stringify(v) : v);
}

export function artifactBody(a) {
  if (a.kind === 'markdown') return `<div class="markdown" data-testid="artifact-markdown">${a.html || ''}</div>`;
  if (a.kind === 'link') {
    const url = (a.data && a.data.url) || '';
    const safe = /^https?:\/\//i.test(url);
    return safe ? `<a href="${escape(url)}" rel="noopener noreferrer" target="_blank">${escape((a.data && a.data.text) || url)}</a>`
      : `<span>${escape(url)}</span>`;
  }
  const rows = tableRows(a.data);
  if (!rows.length) return '<p class="muted">Empty table</p>';
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r || {})))];
  return `<div class="table-scroll"><table class="table" data-testid="artifact-table"><thead><tr>${cols.map((c) => `<th>${escape(c)}</th>`).join('')}</tr></thead>
      <tbody>${rows.map((r) => `<tr>${cols.map((c) => `<td>${cell((r || {})[c])}</td>`).join('')}</tr>`).join('')}</tbody></table></div>`;
}

export function artifactCard(a, heading) {
  return `<div class="artifact" data-testid="artifact" data-key="${escape(a.key)}">
      <div class="artifact-head"><span class="strong">${escape(heading)}</span> <span class="chip">${escape(a.kind)}</span>
        <span class="muted small" title="${escape(fmtTime(a.created))}">${escape(fmtAgo(a.created))}</span></div>
      ${artifactBody(a)}</div>`;
}
