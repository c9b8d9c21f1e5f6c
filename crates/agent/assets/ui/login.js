// Logging in with an ACL token: the header's token field checks a token with
// GET v1/acl/token/self before keeping it (in localStorage, as Consul's UI
// does), then says who it is (AccessorID, Description, policies, roles) and
// offers a log-out. api.js sends the kept token as X-Consul-Token on every
// call. A token the agent does not know (403 ACL not found) is never kept.

import { ApiError, aclDisabled, getJSON, setToken, token } from './api.js';
import { h, fill, facts, tags, report } from './dom.js';

/** How long a token check may take before the token is kept unchecked. */
const CHECK_WITHIN_MS = 10000;

/** The logged-in token's own record (acl/token/self), or null. */
let me = null;

/** The record of the token logged in with, or null (none, or not checked). */
export function whoami() {
  return me;
}

const input = document.getElementById('token');
const form = document.getElementById('token-form');
const loginBtn = document.getElementById('login');
const who = document.getElementById('whoami');
const whoName = document.getElementById('whoami-name');
const whoFacts = document.getElementById('whoami-facts');
const status = document.getElementById('token-status');
const logoutBtn = document.getElementById('logout');

/**
 * What the agent says of `secret`: {state, self, error} with state 'valid'
 * (self is its record), 'invalid' (403 ACL not found), 'disabled' (401 ACL
 * support disabled) or 'unchecked' (any other failure: unreachable, …).
 */
async function check(secret) {
  try {
    // Bounded, so a hung agent cannot keep the first page from drawing.
    const r = await getJSON('acl/token/self', { token: secret, signal: AbortSignal.timeout(CHECK_WITHIN_MS) });
    return { state: 'valid', self: r.data };
  } catch (e) {
    if (e instanceof ApiError && e.status === 403 && /ACL not found/i.test(e.text)) return { state: 'invalid', error: e };
    if (aclDisabled(e)) return { state: 'disabled', error: e };
    return { state: 'unchecked', error: e };
  }
}

function names(list) {
  return (list || []).map(x => x.Name || x.ServiceName || x.NodeName || x.ID);
}

/** Draws the header for `state` (as check() returns it, or 'none'). */
function show(state, self = null, error = null) {
  me = state === 'valid' ? self : null;
  form.hidden = state === 'valid';
  who.hidden = state !== 'valid';
  logoutBtn.hidden = state === 'none';
  status.hidden = state !== 'disabled' && state !== 'unchecked';
  if (state === 'disabled') {
    status.textContent = 'ACLs are off here: the token is not checked.';
  } else if (state === 'unchecked') {
    status.textContent = 'Token kept, not checked.';
    status.title = error ? error.message : '';
  }
  if (state === 'valid') {
    fill(whoName, self.Description || `token ${String(self.AccessorID).slice(0, 8)}`);
    fill(whoFacts, facts([
      ['AccessorID', h('span', { class: 'mono', id: 'whoami-accessor' }, self.AccessorID)],
      ['Description', self.Description || h('span', { class: 'muted' }, '—')],
      ['Policies', h('span', { id: 'whoami-policies' }, tags(names(self.Policies)))],
      ['Roles', tags(names(self.Roles))],
      ...(self.ServiceIdentities?.length ? [['Service identities', tags(names(self.ServiceIdentities))]] : []),
      ...(self.NodeIdentities?.length ? [['Node identities', tags(names(self.NodeIdentities))]] : []),
      ...(self.ExpirationTime ? [['Expires', self.ExpirationTime]] : []),
    ]));
  }
  if (state !== 'valid') { fill(whoName); fill(whoFacts); }
  if (state === 'none') input.value = '';
}

/**
 * Wires the header's token field and log-out; `changed()` runs after each
 * log-in or log-out (the page redraws with the new token). Checks the token
 * kept from an earlier visit first; resolves to a message when it had to be
 * dropped (the agent no longer knows it), else null.
 */
export async function initLogin(changed) {
  form.addEventListener('submit', async e => {
    e.preventDefault();
    const secret = input.value.trim();
    if (!secret) { logout(); return; }
    loginBtn.disabled = true;
    try {
      const r = await check(secret);
      if (r.state === 'invalid') {
        report(new Error('Not logged in: the token is not valid (403 ACL not found).'));
        return;
      }
      setToken(secret);
      show(r.state, r.self, r.error);
      report(null);
      changed();
    } finally {
      loginBtn.disabled = false;
    }
  });
  function logout() {
    setToken('');
    show('none');
    report(null);
    changed();
  }
  logoutBtn.addEventListener('click', logout);

  const kept = token();
  input.value = kept;
  if (!kept) { show('none'); return null; }
  const r = await check(kept);
  if (r.state === 'invalid') {
    setToken('');
    show('none');
    return new Error('Logged out: the token kept in this browser is no longer valid (403 ACL not found).');
  }
  show(r.state, r.self, r.error);
  return null;
}
