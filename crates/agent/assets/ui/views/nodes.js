// Nodes: the list with each node's check counts and serfHealth, and one
// node's services, checks and sessions.

import { pathOf } from '../api.js';
import { h, fill, empty, errorBox, status, healthCounts, pagedTable, report, link, tags, facts, meta } from '../dom.js';
import { checkTable } from './services.js';
import { sessionTable } from './sessions.js';

export function nodeList(main, scope) {
  document.title = 'Nodes · Praetor';
  let nodes = null, checks = [];
  let hidden = false; // ACLs left nodes out of the last answer
  const search = h('input', {
    type: 'search', id: 'node-search', placeholder: 'Search by name or address', 'aria-label': 'Search nodes',
    oninput: () => { table.reset(); draw(); },
  });
  const table = pagedTable(['Node', 'Address', 'Serf health', 'Health checks'], n => h('tr', { dataset: { node: n.Node, serf: n.serf } },
    h('th', { scope: 'row' }, link(n.Node, 'nodes', n.Node)),
    h('td', {}, n.Address),
    h('td', {}, n.serf ? status(n.serf) : h('span', { class: 'muted' }, '—')),
    h('td', {}, healthCounts(n.counts))), { label: 'nodes' });
  const body = h('div', { id: 'nodes' }, h('p', { class: 'muted' }, 'Loading…'));
  main.append(h('h1', {}, 'Nodes'), h('div', { class: 'toolbar' }, search), body);

  function draw() {
    if (!nodes) return;
    if (!nodes.length) { fill(body, empty(hidden ? 'No nodes this token may read.' : 'No nodes in the catalog.')); return; }
    const byNode = new Map();
    for (const c of checks) {
      const e = byNode.get(c.Node) || { passing: 0, warning: 0, critical: 0, serf: '' };
      e[c.Status in e ? c.Status : 'critical']++;
      if (c.CheckID === 'serfHealth') e.serf = c.Status;
      byNode.set(c.Node, e);
    }
    const q = search.value.trim().toLowerCase();
    const rows = nodes
      .filter(n => !q || n.Node.toLowerCase().includes(q) || n.Address.includes(q))
      .map(n => { const c = byNode.get(n.Node) || { passing: 0, warning: 0, critical: 0, serf: '' }; return { ...n, counts: c, serf: c.serf }; });
    if (!rows.length) { fill(body, empty('No node matches the search.')); return; }
    if (body.firstChild !== table.el) fill(body, table.el);
    table.set(rows);
  }
  const onErr = e => { report(e); if (e && !nodes) fill(body, errorBox(e)); };
  scope.watch('catalog/nodes', {}, (d, _, f) => { nodes = d; hidden = f; draw(); }, onErr);
  scope.watch('health/state/any', {}, d => { checks = d; draw(); }, onErr);
}

export function nodePage(main, scope, name) {
  document.title = `${name} · Nodes · Praetor`;
  const info = h('section', { class: 'card', 'aria-label': 'Node' }, h('p', { class: 'muted' }, 'Loading…'));
  const services = h('section', { class: 'card', id: 'node-services', 'aria-label': 'Services' });
  const checks = h('section', { class: 'card', id: 'node-checks', 'aria-label': 'Checks' });
  const sessions = h('section', { class: 'card', id: 'node-sessions', 'aria-label': 'Sessions' }, h('h2', {}, 'Sessions'), h('p', { class: 'muted' }, 'Loading…'));
  main.append(h('p', { class: 'crumbs' }, h('a', { href: '#/nodes' }, 'Nodes'), ' / '), h('h1', {}, name), info, services, checks, sessions);
  const onErr = e => report(e);

  scope.watch(`catalog/node-services/${pathOf(name)}`, {}, (d, _, hidden) => {
    if (!d) {
      fill(info, empty(hidden ? `This token may not read the node ${name}.` : `There is no node called ${name} in the catalog.`));
      fill(services);
      return;
    }
    const n = d.Node;
    fill(info, facts([['Address', n.Address], ['Datacenter', n.Datacenter], ['ID', n.ID], ['Meta', meta(n.Meta)]]));
    fill(services, h('h2', {}, `Services (${d.Services.length})`), !d.Services.length ? empty('No services on this node.')
      : h('div', { class: 'scroll' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Service', 'ID', 'Port', 'Tags'].map(c => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, d.Services.map(s => h('tr', {},
          h('td', {}, link(s.Service, 'services', s.Service)), h('td', {}, s.ID),
          h('td', { class: 'num' }, String(s.Port)), h('td', {}, tags(s.Tags))))))));
  }, onErr);
  scope.watch(`health/node/${pathOf(name)}`, {}, list => {
    fill(checks, h('h2', {}, `Checks (${list.length})`), checkTable(list));
  }, onErr);

  const table = sessionTable({ nodeColumn: false });
  scope.watch(`session/node/${pathOf(name)}`, {}, list => {
    fill(sessions, h('h2', {}, `Sessions (${list.length})`), !list.length ? empty('No sessions on this node.') : table.el);
    table.set(list);
  }, e => { report(e); if (e) fill(sessions, h('h2', {}, 'Sessions'), errorBox(e)); });
}
