// The overview: datacenter, leader, the Raft servers and their state, and
// the members by status. Refreshed when the catalog's nodes change (members
// joining, failing or leaving move it), and every 10 s for Raft's own state.

import { getJSON } from '../api.js';
import { h, fill, empty, errorBox, facts, report } from '../dom.js';

const MEMBER_STATUS = { 0: 'none', 1: 'alive', 2: 'leaving', 3: 'left', 4: 'failed' };

export function overview(main, scope) {
  document.title = 'Overview · Praetor';
  const summary = h('section', { class: 'card', 'aria-label': 'Cluster' }, h('p', { class: 'muted' }, 'Loading…'));
  const servers = h('section', { class: 'card', 'aria-label': 'Servers' });
  const members = h('section', { class: 'card', 'aria-label': 'Members' });
  main.append(h('h1', {}, 'Overview'), summary, servers, members);

  // One refresh at a time; a trigger during one runs another after it.
  let busy = false, again = false;
  async function refresh() {
    if (scope.signal.aborted) return;
    if (busy) { again = true; return; }
    busy = true;
    try {
      const signal = scope.signal;
      const [self, leader, mem] = await Promise.all([
        getJSON('agent/self', { signal }),
        getJSON('status/leader', { signal }),
        getJSON('agent/members', { signal }),
      ]);
      let raft = null, raftErr = null;
      try {
        raft = (await getJSON('operator/raft/configuration', { signal })).data;
      } catch (e) {
        if (e.name === 'AbortError') throw e;
        raftErr = e;
      }
      draw(self.data, leader.data, mem.data, raft, raftErr);
      report(null);
    } catch (e) {
      if (e.name !== 'AbortError') {
        report(e);
        fill(summary, h('h2', {}, 'Cluster'), errorBox(e));
      }
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }

  function draw(self, leader, mem, raft, raftErr) {
    const cfg = self.Config || {};
    const leaderNode = raft?.Servers?.find(s => s.Leader)?.Node;
    fill(summary, h('h2', {}, 'Cluster'), facts([
      ['Datacenter', h('span', { id: 'datacenter' }, cfg.Datacenter)],
      ['Leader', h('span', { id: 'leader' }, leader
        ? `${leaderNode ? leaderNode + ' · ' : ''}${leader}`
        : h('strong', { class: 'bad' }, 'no leader'))],
      ['This agent', `${cfg.NodeName} (${cfg.Server ? 'server' : 'client'}) · ${cfg.Version || ''}`],
    ]));

    const serverRows = raft?.Servers || [];
    fill(servers, h('h2', {}, 'Servers'),
      raftErr ? errorBox(raftErr)
        : !serverRows.length ? empty('No Raft servers.')
          : h('div', { class: 'scroll' }, h('table', { id: 'servers' },
            h('thead', {}, h('tr', {}, ['Node', 'Address', 'Raft state', 'Voter'].map(c => h('th', { scope: 'col' }, c)))),
            h('tbody', {}, serverRows.map(s => h('tr', {},
              h('td', {}, h('a', { href: `#/nodes/${encodeURIComponent(s.Node)}` }, s.Node)),
              h('td', {}, s.Address),
              h('td', {}, h('span', { class: `badge ${s.Leader ? 'passing' : 'neutral'}` }, s.Leader ? 'leader' : s.Voter ? 'follower' : 'non-voter')),
              h('td', {}, s.Voter ? 'yes' : 'no')))))));

    const counts = {};
    for (const m of mem) {
      const st = MEMBER_STATUS[m.Status] || String(m.Status);
      counts[st] = (counts[st] || 0) + 1;
    }
    fill(members, h('h2', {}, `Members (${mem.length})`),
      h('p', { class: 'counts', id: 'member-counts' }, Object.entries(counts).map(([st, n]) =>
        h('span', { class: `badge ${st === 'alive' ? 'passing' : st === 'failed' ? 'critical' : 'warning'}` }, `${n} ${st}`))),
      !mem.length ? empty('No members.') : h('div', { class: 'scroll' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Name', 'Address', 'Status', 'Type', 'Datacenter'].map(c => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, mem.map(m => h('tr', {},
          h('td', {}, h('a', { href: `#/nodes/${encodeURIComponent(m.Name)}` }, m.Name)),
          h('td', {}, `${m.Addr}:${m.Port}`),
          h('td', {}, MEMBER_STATUS[m.Status] || m.Status),
          h('td', {}, m.Tags?.role === 'consul' ? 'server' : 'client'),
          h('td', {}, m.Tags?.dc || '')))))));
  }

  // Wakes on any node or serfHealth change; the timer catches Raft-only changes.
  scope.watch('catalog/nodes', {}, () => refresh(), e => { if (e) report(e); });
  const timer = setInterval(() => { if (!document.hidden) refresh(); }, 10000);
  scope.onDispose(() => clearInterval(timer));
}
