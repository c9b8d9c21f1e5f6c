// Services: the list (name, tags, instances, check counts; search and a
// health filter; paged) and one service's instances with their checks.

import { pathOf } from '../api.js';
import { h, fill, empty, errorBox, tags, meta, status, healthCounts, pagedTable, report, link } from '../dom.js';

/** A service's worst state from its check counts. */
function worst(s) {
  if (s.ChecksCritical) return 'critical';
  if (s.ChecksWarning) return 'warning';
  return 'passing';
}

export function serviceList(main, scope) {
  document.title = 'Services · Praetor';
  let all = null;
  let hidden = false; // ACLs left services out of the last answer
  const search = h('input', {
    type: 'search', id: 'service-search', placeholder: 'Search by name or tag', 'aria-label': 'Search services',
    oninput: () => { table.reset(); draw(); },
  });
  const health = h('select', { id: 'service-health', 'aria-label': 'Filter by health', onchange: () => { table.reset(); draw(); } },
    h('option', { value: '' }, 'Any health'),
    h('option', { value: 'passing' }, 'Passing'),
    h('option', { value: 'warning' }, 'Warning'),
    h('option', { value: 'critical' }, 'Critical'));
  const table = pagedTable(['Service', 'Tags', 'Instances', 'Health checks'], s => h('tr', { dataset: { service: s.Name, health: worst(s) } },
    h('th', { scope: 'row' }, link(s.Name, 'services', s.Name)),
    h('td', {}, tags(s.Tags)),
    h('td', { class: 'num' }, String(s.InstanceCount)),
    h('td', {}, healthCounts({ passing: s.ChecksPassing, warning: s.ChecksWarning, critical: s.ChecksCritical }))),
  { label: 'services' });
  const body = h('div', { id: 'services' }, h('p', { class: 'muted' }, 'Loading…'));
  main.append(h('h1', {}, 'Services'), h('div', { class: 'toolbar' }, search, health), body);

  function draw() {
    if (!all) return;
    if (!all.length) { fill(body, empty(hidden ? 'No services this token may read.' : 'No services are registered yet.')); return; }
    const q = search.value.trim().toLowerCase();
    const want = health.value;
    const rows = all.filter(s => (!q || s.Name.toLowerCase().includes(q) || (s.Tags || []).some(t => t.toLowerCase().includes(q)))
      && (!want || worst(s) === want));
    if (!rows.length) { fill(body, empty('No service matches the search and filter.')); return; }
    if (body.firstChild !== table.el) fill(body, table.el);
    table.set(rows);
  }

  scope.watch('internal/ui/services', {}, (data, _, f) => { all = data; hidden = f; draw(); }, e => {
    report(e);
    if (e && !all) fill(body, errorBox(e));
  });
}

export function servicePage(main, scope, name) {
  document.title = `${name} · Services · Praetor`;
  const body = h('div', { id: 'instances' }, h('p', { class: 'muted' }, 'Loading…'));
  main.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/services' }, 'Services'), ' / '),
    h('h1', {}, name), body);
  let seen = false;
  scope.watch(`health/service/${pathOf(name)}`, {}, list => {
    seen = true;
    if (!list.length) { fill(body, empty(`No instances of ${name} are registered.`)); return; }
    fill(body, h('p', { class: 'muted' }, `${list.length} instance${list.length === 1 ? '' : 's'}`),
      list.map(e => instance(e)));
  }, e => { report(e); if (e && !seen) fill(body, errorBox(e)); });
}

function instance({ Node: node, Service: svc, Checks: checks }) {
  const addr = svc.Address || node.Address;
  return h('section', { class: 'card instance', dataset: { instance: svc.ID } },
    h('h2', {}, svc.ID, ' ', h('span', { class: 'muted' }, 'on '), link(node.Node, 'nodes', node.Node)),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Address'), h('dd', { class: 'address' }, `${addr}:${svc.Port}`),
      h('dt', {}, 'Tags'), h('dd', {}, tags(svc.Tags)),
      h('dt', {}, 'Meta'), h('dd', {}, meta(svc.Meta))),
    checkTable(checks));
}

/** Checks with their status and output. */
export function checkTable(checks) {
  if (!checks.length) return empty('No checks.');
  return h('div', { class: 'scroll' }, h('table', { class: 'checks' },
    h('thead', {}, h('tr', {}, ['Check', 'Status', 'Type', 'Output'].map(c => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, checks.map(c => h('tr', { dataset: { check: c.CheckID, status: c.Status } },
      h('td', {}, c.Name, h('div', { class: 'muted small' }, c.CheckID)),
      h('td', {}, status(c.Status)),
      h('td', {}, c.Type || (c.CheckID === 'serfHealth' ? 'serf' : h('span', { class: 'muted' }, '—'))),
      h('td', {}, c.Output ? h('pre', { class: 'output' }, c.Output) : h('span', { class: 'muted' }, '—')))))));
}
