// Sessions: every session in the cluster, live, with its node, behavior,
// TTL, lock-delay and checks; a session can be invalidated (destroyed)
// after confirmation, which releases or deletes its locks as its Behavior
// says. The same table serves a node's page.

import { call, pathOf } from '../api.js';
import { h, fill, empty, errorBox, pagedTable, report, link, tags, confirmDialog } from '../dom.js';

/** A lock-delay in nanoseconds, as Consul's JSON has it, in words. */
function delay(ns) {
  if (!ns) return '0s';
  const s = ns / 1e9;
  return Number.isInteger(s) ? `${s}s` : `${s.toFixed(3)}s`;
}

/** The paged table of `list` (with a Node column unless `nodeColumn` is false). */
export function sessionTable({ nodeColumn = true } = {}) {
  const head = ['ID', 'Name', ...(nodeColumn ? ['Node'] : []), 'Behavior', 'TTL', 'Lock delay', 'Checks', ''];
  return pagedTable(head, s => h('tr', { dataset: { session: s.ID } },
    h('td', { class: 'mono' }, s.ID),
    h('td', {}, s.Name || h('span', { class: 'muted' }, '—')),
    ...(nodeColumn ? [h('td', {}, link(s.Node, 'nodes', s.Node))] : []),
    h('td', {}, s.Behavior || 'release'),
    h('td', {}, s.TTL || h('span', { class: 'muted' }, 'none')),
    h('td', {}, delay(s.LockDelay)),
    h('td', {}, tags([...(s.NodeChecks || []), ...((s.ServiceChecks || []).map(c => c.ID || c))])),
    h('td', {}, h('button', {
      type: 'button', class: 'danger', 'aria-label': `Invalidate session ${s.ID}`,
      onclick: () => invalidate(s),
    }, 'Invalidate'))), { label: 'sessions' });
}

async function invalidate(s) {
  const what = s.Behavior === 'delete' ? 'deletes the keys it holds' : 'releases the locks it holds';
  if (!(await confirmDialog(`Invalidate session ${s.Name || s.ID}? This ${what}.`, 'Invalidate'))) return;
  try {
    await call('PUT', `session/destroy/${pathOf(s.ID)}`);
  } catch (e) {
    report(e);
  }
}

export function sessionList(main, scope) {
  document.title = 'Sessions · Praetor';
  let sessions = null;
  let hidden = false; // ACLs left sessions out of the last answer
  const search = h('input', {
    type: 'search', id: 'session-search', placeholder: 'Search by name, ID or node', 'aria-label': 'Search sessions',
    oninput: () => { table.reset(); draw(); },
  });
  const table = sessionTable();
  const body = h('div', { id: 'sessions' }, h('p', { class: 'muted' }, 'Loading…'));
  main.append(h('h1', {}, 'Sessions'), h('div', { class: 'toolbar' }, search), body);

  function draw() {
    if (!sessions) return;
    if (!sessions.length) {
      fill(body, empty(hidden ? 'No sessions this token may read.' : 'No sessions. Locks and leader elections create them.'));
      return;
    }
    const q = search.value.trim().toLowerCase();
    const rows = sessions.filter(s => !q || [s.ID, s.Name || '', s.Node].some(v => v.toLowerCase().includes(q)));
    if (!rows.length) { fill(body, empty('No session matches the search.')); return; }
    if (body.firstChild !== table.el) fill(body, table.el);
    table.set(rows);
  }
  scope.watch('session/list', {}, (d, _, f) => { sessions = d || []; hidden = f; draw(); },
    e => { report(e); if (e && !sessions) fill(body, errorBox(e)); });
}
