// The overview: datacenter, leader, the Raft servers and their state, and
// the members by status. Refreshed when the catalog's nodes change (members
// joining, failing or leaving move it), and every 10 s for Raft's own state.

import { dc, getJSON } from '../api.js';
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
      // Each read on its own: a token may read the members but not the
      // agent (agent:read) or Raft (operator:read); each section says so.
      const [self, leader, mem, raft] = await Promise.allSettled([
        getJSON('agent/self', { signal }),
        getJSON('status/leader', { signal }),
        getJSON('agent/members', { signal }),
        getJSON('operator/raft/configuration', { signal }),
      ]);
      const all = [self, leader, mem, raft];
      const aborted = all.find(r => r.status === 'rejected' && r.reason?.name === 'AbortError');
      if (aborted) throw aborted.reason;
      if (leader.status === 'rejected') throw leader.reason;
      if (mem.status === 'fulfilled') scope.noteFiltered('agent/members', mem.value.filtered);
      draw(self.value?.data ?? null, self.reason, leader.value.data,
        mem.value?.data ?? null, mem.reason, raft.value?.data ?? null, raft.reason);
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

  function draw(self, selfErr, leader, mem, memErr, raft, raftErr) {
    const cfg = self?.Config || {};
    const leaderNode = raft?.Servers?.find(s => s.Leader)?.Node;
    fill(summary, h('h2', {}, 'Cluster'), facts([
      ['Datacenter', h('span', { id: 'datacenter' }, dc() || cfg.Datacenter || '—')],
      ['Leader', h('span', { id: 'leader' }, leader
        ? `${leaderNode ? leaderNode + ' · ' : ''}${leader}`
        : h('strong', { class: 'bad' }, 'no leader'))],
      ['This agent', self
        ? `${cfg.NodeName} (${cfg.Server ? 'server' : 'client'}) · ${cfg.PraetorVersion || cfg.Version || ''}`
        : h('span', { class: 'bad', id: 'agent-error' }, selfErr ? selfErr.message : 'unknown')],
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

    if (!mem) { fill(members, h('h2', {}, 'Members'), errorBox(memErr)); return; }
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
