// flowcore web UI: deployment names by id, remembered from /api/deployments answers.

import { api } from './api.js';
import { truncate } from './util.js';

// Deployments seen in /api/deployments answers, by id: flow runs and the /api/filters list may
// carry only a deployment's id, and the UI would rather show its name.
const knownDeployments = new Map();
export function rememberDeployments(list) {
  for (const d of list || []) knownDeployments.set(d.id, { name: d.name, flow_name: d.flow_name });
}
// "name" of a flow run's deployment (full = "flow › name" when the flow run's flow is not known).
export function deploymentName(id, name, full = false) {
  const d = knownDeployments.get(id);
  if (name) return name;
  if (d) return full ? `${d.flow_name} › ${d.name}` : d.name;
  return id ? truncate(String(id), 13) : '';
}

// Fetch the deployment list when some of these ids have no name yet (at most every 30 s).
let deploymentsLoadedAt = 0;
export async function loadDeploymentNames(ids) {
  if (!ids.some((id) => id && !knownDeployments.has(id)) || Date.now() - deploymentsLoadedAt < 30000) return;
  deploymentsLoadedAt = Date.now();
  try { rememberDeployments((await api('/deployments')).results); } catch (_) { /* ids stay as they are */ }
}
