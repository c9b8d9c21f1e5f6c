// The agent's HTTP API, reached relative to the page: the UI lives at
// <base>/ui/, so the API is <base>/v1/… whatever prefix a proxy or tunnel adds.

const TOKEN_KEY = 'praetor.token';
const DC_KEY = 'praetor.dc';

/**
 * The datacenter the pages show ('' until chosen: the agent's own). Every
 * call but the agent's own endpoints (`agent/…`) carries it as `?dc=`, so
 * a local server forwards it there.
 */
let selectedDc = (() => {
  try { return sessionStorage.getItem(DC_KEY) || ''; } catch { return ''; }
})();

export function dc() { return selectedDc; }

export function setDc(d) {
  selectedDc = d || '';
  try {
    if (selectedDc) sessionStorage.setItem(DC_KEY, selectedDc); else sessionStorage.removeItem(DC_KEY);
  } catch { /* private mode: the choice lasts for this page only */ }
}

/** The agent's base URL (the folder above /ui/). */
export const base = new URL('../', document.baseURI);

export function token() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(t) {
  try {
    if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY);
  } catch { /* private mode: the token lasts for this page only */ }
}

/** A failed call: `status` 0 when the agent could not be reached. */
export class ApiError extends Error {
  constructor(status, text) {
    super(describe(status, text));
    this.status = status;
    this.text = text;
  }
}

function describe(status, text) {
  if (status === 0) return `The agent is unreachable (${text}). Is it running, and is the tunnel up?`;
  if (status === 403 && /ACL not found/i.test(text)) {
    return 'The token is not valid (403 ACL not found): log out, or log in with another token.';
  }
  if (status === 403) {
    // Consul says "Permission denied" and, where it can, the permission missing.
    const detail = text.replace(/^Permission denied\s*:?\s*/i, '');
    return `Permission denied (403)${detail ? ': ' + detail : ''}. This token may not do this; log in with one that may.`;
  }
  if (status === 401 && /ACL support disabled/i.test(text)) return 'ACLs are disabled on this agent (401 ACL support disabled).';
  if (/No cluster leader/i.test(text)) return 'The cluster has no leader (500 No cluster leader): reads and writes wait until one is elected.';
  if (/No known Consul servers/i.test(text)) return 'This agent knows no servers (500): it cannot read or write.';
  return `${status}: ${text || 'request failed'}`;
}

/** True when the agent answered that ACLs are off (401 ACL support disabled). */
export function aclDisabled(err) {
  return err instanceof ApiError && err.status === 401 && /ACL support disabled/i.test(err.text);
}

/** Encodes a KV key or name for a path, segment by segment. */
export function pathOf(key) {
  return key.split('/').map(encodeURIComponent).join('/');
}

/**
 * Calls `v1/<path>` with `query` ({k: v}; v === true adds a bare flag).
 * Resolves to the Response when it is 2xx, or 404 with `allow404`.
 */
export async function call(method, path, { query = {}, body, signal, allow404 = false, token: as } = {}) {
  const url = new URL('v1/' + path, base);
  const parts = [];
  if (selectedDc && !path.startsWith('agent/') && !('dc' in query)) {
    query = { ...query, dc: selectedDc };
  }
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === false) continue;
    parts.push(v === true ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  }
  url.search = parts.join('&');
  const headers = {};
  // `as` (a token being tried at log-in) instead of the one kept.
  const t = as ?? token();
  if (t) headers['X-Consul-Token'] = t;
  let res;
  try {
    res = await fetch(url, { method, headers, body, signal, cache: 'no-store', credentials: 'same-origin' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, e.message || 'network error');
  }
  if (res.ok || (allow404 && res.status === 404)) return res;
  const text = (await res.text().catch(() => '')).trim();
  throw new ApiError(res.status, text || res.statusText);
}

/**
 * GET as JSON: {data (null on an allowed 404), index (X-Consul-Index, 0 if
 * none), status, filtered (X-Consul-Results-Filtered-By-ACLs: the token may
 * not read some of what the answer would have held)}.
 */
export async function getJSON(path, opts = {}) {
  const res = await call('GET', path, opts);
  const index = Number(res.headers.get('X-Consul-Index') || 0);
  const filtered = res.headers.get('X-Consul-Results-Filtered-By-ACLs') === 'true';
  const data = res.status === 404 ? null : await res.json();
  return { data, index, status: res.status, filtered };
}

/** Sends `value` as a JSON body with `method`; resolves to the answer's JSON. */
export async function sendJSON(method, path, value, opts = {}) {
  const res = await call(method, path, { ...opts, body: JSON.stringify(value) });
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

/** The bytes of a KV value (base64; null is empty). */
export function valueBytes(b64) {
  if (!b64) return new Uint8Array(0);
  return Uint8Array.from(atob(b64), c => c.charCodeAt(0));
}

/** A KV value as text: {text, binary} (binary: not UTF-8, shown lossily). */
export function decodeValue(b64) {
  const bytes = valueBytes(b64);
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), binary: false };
  } catch {
    return { text: new TextDecoder().decode(bytes), binary: true };
  }
}
