// The UI's entry: hash routes (so every URL stays relative to /ui/), the
// log-in with an ACL token (login.js), the banner that says when the agent
// cannot be reached, and the note that ACLs hid some of a page's results.

import { Scope } from './live.js';
import { initLogin } from './login.js';
import { overview } from './views/overview.js';
import { serviceList, servicePage } from './views/services.js';
import { nodeList, nodePage } from './views/nodes.js';
import { kvRoute } from './views/kv.js';
import { sessionList } from './views/sessions.js';
import { aclRoute } from './views/acl.js';
import { report } from './dom.js';
import { call, dc, setDc } from './api.js';

const routes = [
  [/^\/(overview)?$/, 'overview', overview],
  [/^\/services$/, 'services', serviceList],
  [/^\/services\/(.+)$/, 'services', servicePage],
  [/^\/nodes$/, 'nodes', nodeList],
  [/^\/nodes\/(.+)$/, 'nodes', nodePage],
  [/^\/kv\/(.*)$/, 'kv', kvRoute],
  [/^\/sessions$/, 'sessions', sessionList],
  [/^\/acl(?:\/(tokens|policies|roles))?(?:\/(.+))?$/, 'acl', aclRoute],
];

const main = document.getElementById('main');
const filteredNote = document.getElementById('filtered');
let current = null;

function notFound(el) {
  el.replaceChildren(Object.assign(document.createElement('p'), {
    className: 'empty', textContent: 'No such page. Use the links above.',
  }));
}

function render() {
  current?.dispose();
  report(null);
  const path = location.hash.replace(/^#/, '') || '/overview';
  let view = notFound, section = '', args = [];
  for (const [re, name, fn] of routes) {
    const m = re.exec(path.split('?')[0]);
    if (m) {
      view = fn;
      section = name;
      args = m.slice(1).map(s => (s === undefined ? '' : safeDecode(s)));
      break;
    }
  }
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  filteredNote.hidden = true;
  current = new Scope({ onFiltered: any => { filteredNote.hidden = !any; } });
  main.replaceChildren();
  main.dataset.view = section;
  view(main, current, ...args);
}

function safeDecode(s) {
  try { return decodeURIComponent(s); } catch { return s; }
}

/**
 * The datacenter switcher: every datacenter the agent's servers know
 * (`/v1/catalog/datacenters`, nearest first), the agent's own chosen until
 * another is; choosing one shows the same page with that datacenter's data.
 */
async function initDatacenters() {
  const select = document.getElementById('dc');
  let list = [], own = '';
  try {
    const [dcs, self] = await Promise.all([
      call('GET', 'catalog/datacenters', { query: { dc: undefined } }).then(r => r.json()),
      call('GET', 'agent/self').then(r => r.json()),
    ]);
    list = Array.isArray(dcs) ? dcs : [];
    own = self?.Config?.Datacenter || '';
  } catch { /* unreachable or not allowed: the agent's own only */ }
  if (own && !list.includes(own)) list.unshift(own);
  if (dc() && !list.includes(dc())) setDc('');
  select.replaceChildren(...list.map(d => {
    const o = document.createElement('option');
    o.value = d === own ? '' : d;
    o.textContent = d === own ? `${d} (this agent's)` : d;
    return o;
  }));
  select.value = dc();
  select.disabled = list.length < 2;
  select.addEventListener('change', () => {
    setDc(select.value);
    render();
  });
}

window.addEventListener('hashchange', () => { render(); main.focus({ preventScroll: true }); });
// The kept token is checked before the first page asks anything with it.
initLogin(render).then(async dropped => {
  await initDatacenters();
  render();
  if (dropped) report(dropped);
});
