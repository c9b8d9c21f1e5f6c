// Access control: tokens, policies and roles through Consul's v1/acl/… API,
// in three tabs. Each tab lists what the logged-in token may read, creates
// new ones and deletes them; each item's page edits it. Lists are read once
// and again after each change (they are not live). When ACLs are off (401
// ACL support disabled) the page says so; whatever the server refuses (403
// Permission denied, a rule that does not parse) is shown where it happened.

import { call, getJSON, sendJSON, pathOf, aclDisabled } from '../api.js';
import { h, fill, empty, errorBox, facts, tags, link, notice, confirmDialog, pagedTable } from '../dom.js';
import { whoami } from '../login.js';

const TABS = [['tokens', 'Tokens'], ['policies', 'Policies'], ['roles', 'Roles']];

/** `#/acl/<tab>` (a list) or `#/acl/<tab>/<id>` (one item). */
export function aclRoute(main, scope, tab, id) {
  tab = tab || 'tokens';
  const label = TABS.find(([t]) => t === tab)[1];
  document.title = `${label} · ACL · Praetor`;
  const nav = h('nav', { class: 'tabs', 'aria-label': 'ACL' }, TABS.map(([t, text]) =>
    h('a', { href: `#/acl/${t}`, id: `tab-${t}`, 'aria-current': t === tab ? 'page' : null }, text)));
  const body = h('div', { id: 'acl' });
  main.append(h('h1', {}, 'Access control'), nav, body);
  const pages = {
    tokens: [tokenList, tokenPage],
    policies: [policyList, policyPage],
    roles: [roleList, rolePage],
  };
  const [list, item] = pages[tab];
  if (id) item(body, scope, id); else list(body, scope);
}

/** What to show instead of a list or item the API would not give. */
function failure(e) {
  if (aclDisabled(e)) {
    return h('div', { class: 'empty', id: 'acl-disabled' },
      'ACLs are disabled on this agent, so there are no tokens, policies or roles to manage. ',
      'Turn them on with acl { enabled = true } in the configuration of every agent.');
  }
  return errorBox(e);
}

/** GET `path` as JSON, noting ACL filtering on the page; throws as getJSON. */
async function read(scope, path, query) {
  const r = await getJSON(path, { query, signal: scope.signal });
  scope.noteFiltered(path, r.filtered);
  return r.data;
}

/** As read(), but [] when it fails (for the choices in a form). */
async function readOr(scope, path) {
  try { return (await read(scope, path)) || []; } catch { return []; }
}

function names(list) {
  return (list || []).map(x => x.Name || x.ServiceName || x.NodeName || x.ID);
}

function dash(v) {
  return v ? v : h('span', { class: 'muted' }, '—');
}

/**
 * Checkboxes to link policies or roles (`kind` 'policy' or 'role'): every
 * item of `items` ({ID, Name}) plus any already linked (`linked`) that the
 * token may not list, so an edit never drops a link silently.
 */
function choices(kind, items, linked = []) {
  const all = [...items];
  for (const l of linked) if (!all.some(i => i.ID === l.ID)) all.push(l);
  const chosen = new Set(linked.map(l => l.ID));
  const inputs = all.map(it => h('input', {
    type: 'checkbox', name: kind, value: it.ID, checked: chosen.has(it.ID), dataset: { name: it.Name || it.ID },
  }));
  const legend = kind === 'policy' ? 'Policies' : 'Roles';
  const el = h('fieldset', { class: 'choices', id: `${kind}-choices` }, h('legend', {}, legend),
    all.length
      ? inputs.map((input, i) => h('label', {}, input, all[i].Name || all[i].ID))
      : h('span', { class: 'muted' }, kind === 'policy' ? 'No policies to choose from.' : 'No roles to choose from.'));
  return { el, picked: () => inputs.filter(i => i.checked).map(i => ({ ID: i.value })) };
}

/** A labelled text field (`id`, label, value). */
function field(id, label, value = '', attrs = {}) {
  const input = h('input', { type: 'text', id, name: id, autocomplete: 'off', spellcheck: 'false', value, ...attrs });
  return { input, els: [h('label', { for: id }, label), input] };
}

/**
 * A list tab: `head`/`row` draw the table of GET `path`; `form` is the
 * create form under it. Returns refresh(), which reads the list again.
 */
function listing(body, scope, { path, id, head, row, label, none, form }) {
  const list = h('div', { id }, h('p', { class: 'muted' }, 'Loading…'));
  const msg = notice(`${id}-msg`);
  const table = pagedTable(head, x => row(x, msg), { label });
  fill(body, msg.el, list, form);
  async function refresh() {
    try {
      const items = (await read(scope, path)) || [];
      form.hidden = false;
      if (!items.length) { fill(list, empty(none)); return; }
      if (list.firstChild !== table.el) fill(list, table.el);
      table.set(items);
    } catch (e) {
      if (e.name === 'AbortError') return;
      fill(list, failure(e));
      // Whoever may not read these may not write them; ACLs off: nothing to create.
      form.hidden = true;
    }
  }
  refresh();
  return refresh;
}

/** A Delete button that asks first, then runs `del` and `after`, or shows why not in `msg`. */
function deleteButton(what, question, del, msg, after) {
  return h('button', {
    type: 'button', class: 'danger small', 'aria-label': `Delete ${what}`,
    onclick: async () => {
      msg.clear();
      if (!(await confirmDialog(question))) return;
      try {
        await del();
        after();
      } catch (err) { msg.show('error', `Not deleted: ${err.message}`); }
    },
  }, 'Delete');
}

// ---- tokens

function tokenList(body, scope) {
  const me = whoami();
  const msg = notice('token-msg');
  const desc = field('token-description', 'Description');
  const local = h('input', { type: 'checkbox', id: 'token-local', name: 'local' });
  const picks = h('div', {}, h('p', { class: 'muted' }, 'Loading policies and roles…'));
  let policies = choices('policy', []), roles = choices('role', []);
  const form = h('form', { class: 'card create', id: 'token-create', 'aria-label': 'Create a token', hidden: true },
    h('h2', {}, 'Create a token'), desc.els, picks,
    h('div', { class: 'row' }, h('label', { for: 'token-local' }, local, ' Local to this datacenter'),
      h('button', { type: 'submit', id: 'create-token' }, 'Create token')),
    msg.el);
  const refresh = listing(body, scope, {
    path: 'acl/tokens', id: 'acl-tokens', label: 'tokens',
    none: 'There are no tokens this token may read.',
    head: ['AccessorID', 'Description', 'Policies', 'Roles', 'Local', ''],
    row: (t, rowMsg) => {
      const yours = me && me.AccessorID === t.AccessorID;
      return h('tr', { dataset: { accessor: t.AccessorID } },
        h('td', { class: 'mono' }, link(t.AccessorID, 'acl', 'tokens', t.AccessorID),
          yours ? [' ', h('span', { class: 'badge passing', title: 'the token you are logged in with' }, 'you')] : null),
        h('td', {}, dash(t.Description)),
        h('td', {}, tags(names(t.Policies))),
        h('td', {}, tags(names(t.Roles))),
        h('td', {}, t.Local ? 'yes' : 'no'),
        h('td', { class: 'actions' }, deleteButton(t.AccessorID,
          `Delete the token ${t.Description || t.AccessorID}?${yours ? ' It is the token you are logged in with.' : ''}`,
          () => call('DELETE', `acl/token/${pathOf(t.AccessorID)}`), rowMsg, () => refresh())));
    },
    form,
  });
  Promise.all([readOr(scope, 'acl/policies'), readOr(scope, 'acl/roles')]).then(([ps, rs]) => {
    policies = choices('policy', ps);
    roles = choices('role', rs);
    fill(picks, policies.el, roles.el);
  });
  form.addEventListener('submit', async e => {
    e.preventDefault();
    msg.clear();
    try {
      const t = await sendJSON('PUT', 'acl/token', {
        Description: desc.input.value.trim(), Policies: policies.picked(), Roles: roles.picked(), Local: local.checked,
      });
      msg.show('ok', 'Created token ', link(t.AccessorID, 'acl', 'tokens', t.AccessorID),
        '. Its secret ID (give it to whoever uses the token): ', h('code', { class: 'secret', id: 'new-secret' }, t.SecretID));
      form.reset();
      refresh();
    } catch (err) { msg.show('error', `Not created: ${err.message}`); }
  });
}

async function tokenPage(body, scope, id, saved = false) {
  const msg = notice('token-edit-msg');
  fill(body, crumb('tokens', 'Tokens'), h('p', { class: 'muted' }, 'Loading…'));
  let t, ps, rs;
  try {
    [t, ps, rs] = await Promise.all([read(scope, `acl/token/${pathOf(id)}`), readOr(scope, 'acl/policies'), readOr(scope, 'acl/roles')]);
  } catch (e) {
    if (e.name !== 'AbortError') fill(body, crumb('tokens', 'Tokens'), failure(e));
    return;
  }
  const yours = whoami()?.AccessorID === t.AccessorID;
  const secret = h('span', { class: 'secret', id: 'token-secret' }, '••••••••');
  let shown = false;
  const reveal = h('button', {
    type: 'button', class: 'small', id: 'reveal-secret',
    onclick: () => { shown = !shown; secret.textContent = shown ? t.SecretID : '••••••••'; reveal.textContent = shown ? 'Hide' : 'Show'; },
  }, 'Show');
  const desc = field('token-description', 'Description', t.Description || '');
  const policies = choices('policy', ps, t.Policies || []);
  const roles = choices('role', rs, t.Roles || []);
  const form = h('form', { class: 'card create', id: 'token-edit', 'aria-label': 'Edit the token' },
    h('h2', {}, 'Edit'), desc.els, policies.el, roles.el,
    h('div', { class: 'row' }, h('button', { type: 'submit', id: 'save-token' }, 'Save'),
      deleteButton(t.AccessorID, `Delete the token ${t.Description || t.AccessorID}?${yours ? ' It is the token you are logged in with.' : ''}`,
        () => call('DELETE', `acl/token/${pathOf(t.AccessorID)}`), msg, () => { location.hash = '#/acl/tokens'; })),
    msg.el);
  fill(body, crumb('tokens', 'Tokens'), h('h2', {}, t.Description || t.AccessorID),
    h('section', { class: 'card', id: 'token-facts', 'aria-label': 'Token' }, facts([
      ['AccessorID', h('span', { class: 'mono' }, t.AccessorID)],
      ['SecretID', h('span', {}, secret, ' ', reveal)],
      ['Description', dash(t.Description)],
      ['Policies', linksTo('policies', t.Policies)],
      ['Roles', linksTo('roles', t.Roles)],
      ['Service identities', tags(names(t.ServiceIdentities))],
      ['Node identities', tags(names(t.NodeIdentities))],
      ['Local', t.Local ? 'yes' : 'no'],
      ['Created', dash(t.CreateTime)],
      ['Expires', dash(t.ExpirationTime)],
    ])), form);
  if (saved) msg.show('ok', 'Saved.');
  form.addEventListener('submit', async e => {
    e.preventDefault();
    msg.clear();
    const update = {
      AccessorID: t.AccessorID, Description: desc.input.value.trim(),
      Policies: policies.picked(), Roles: roles.picked(),
      ServiceIdentities: t.ServiceIdentities || [], NodeIdentities: t.NodeIdentities || [], Local: !!t.Local,
    };
    if (t.ExpirationTime) update.ExpirationTime = t.ExpirationTime;
    try {
      await sendJSON('PUT', `acl/token/${pathOf(t.AccessorID)}`, update);
      tokenPage(body, scope, id, true);
    } catch (err) { msg.show('error', `Not saved: ${err.message}`); }
  });
}

function crumb(tab, text) {
  return h('p', { class: 'crumbs' }, h('a', { href: `#/acl/${tab}` }, text), ' / ');
}

/** Links to the pages of linked policies or roles. */
function linksTo(tab, list) {
  if (!list || !list.length) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'tags' }, list.map(x => h('span', { class: 'tag' }, link(x.Name || x.ID, 'acl', tab, x.ID))));
}

// ---- policies

const RULES_EXAMPLE = 'key_prefix "config/app/" {\n  policy = "read"\n}';

/** The fields of a policy form, filled from `p`. */
function policyFields(p = {}) {
  const name = field('policy-name', 'Name', p.Name || '', { required: true });
  const desc = field('policy-description', 'Description', p.Description || '');
  const rules = h('textarea', { id: 'policy-rules', name: 'rules', rows: 10, spellcheck: 'false', placeholder: RULES_EXAMPLE });
  rules.value = p.Rules || '';
  return {
    els: [name.els, desc.els, h('label', { for: 'policy-rules' }, 'Rules (HCL or JSON)'), rules],
    value: () => ({ Name: name.input.value.trim(), Description: desc.input.value.trim(), Rules: rules.value }),
  };
}

function policyList(body, scope) {
  const msg = notice('policy-msg');
  const f = policyFields();
  const form = h('form', { class: 'card create', id: 'policy-create', 'aria-label': 'Create a policy', hidden: true },
    h('h2', {}, 'Create a policy'), f.els,
    h('div', { class: 'row' }, h('button', { type: 'submit', id: 'create-policy' }, 'Create policy')), msg.el);
  const refresh = listing(body, scope, {
    path: 'acl/policies', id: 'acl-policies', label: 'policies',
    none: 'There are no policies this token may read.',
    head: ['Name', 'Description', 'Datacenters', ''],
    row: (p, rowMsg) => h('tr', { dataset: { policy: p.Name } },
      h('th', { scope: 'row' }, link(p.Name, 'acl', 'policies', p.ID)),
      h('td', {}, dash(p.Description)),
      h('td', {}, p.Datacenters?.length ? tags(p.Datacenters) : h('span', { class: 'muted' }, 'all')),
      h('td', { class: 'actions' }, deleteButton(p.Name, `Delete the policy ${p.Name}? Tokens and roles linked to it lose its rules.`,
        () => call('DELETE', `acl/policy/${pathOf(p.ID)}`), rowMsg, () => refresh()))),
    form,
  });
  form.addEventListener('submit', async e => {
    e.preventDefault();
    msg.clear();
    try {
      const p = await sendJSON('PUT', 'acl/policy', f.value());
      msg.show('ok', 'Created policy ', link(p.Name, 'acl', 'policies', p.ID), '.');
      form.reset();
      refresh();
    } catch (err) { msg.show('error', `Not created: ${err.message}`); }
  });
}

async function policyPage(body, scope, id, saved = false) {
  const msg = notice('policy-edit-msg');
  fill(body, crumb('policies', 'Policies'), h('p', { class: 'muted' }, 'Loading…'));
  let p;
  try {
    p = await read(scope, `acl/policy/${pathOf(id)}`);
  } catch (e) {
    if (e.name !== 'AbortError') fill(body, crumb('policies', 'Policies'), failure(e));
    return;
  }
  const f = policyFields(p);
  const users = h('section', { class: 'card', id: 'policy-tokens', 'aria-label': 'Tokens using it' }, h('h2', {}, 'Tokens linked to it'),
    h('p', { class: 'muted' }, 'Loading…'));
  const form = h('form', { class: 'card create', id: 'policy-edit', 'aria-label': 'Edit the policy' },
    h('h2', {}, 'Edit'), f.els,
    h('div', { class: 'row' }, h('button', { type: 'submit', id: 'save-policy' }, 'Save'),
      deleteButton(p.Name, `Delete the policy ${p.Name}? Tokens and roles linked to it lose its rules.`,
        () => call('DELETE', `acl/policy/${pathOf(p.ID)}`), msg, () => { location.hash = '#/acl/policies'; })),
    msg.el);
  fill(body, crumb('policies', 'Policies'), h('h2', {}, p.Name),
    h('section', { class: 'card', 'aria-label': 'Policy' }, facts([
      ['ID', h('span', { class: 'mono' }, p.ID)],
      ['Datacenters', p.Datacenters?.length ? tags(p.Datacenters) : 'all'],
    ])), form, users);
  if (saved) msg.show('ok', 'Saved.');
  form.addEventListener('submit', async e => {
    e.preventDefault();
    msg.clear();
    try {
      await sendJSON('PUT', `acl/policy/${pathOf(p.ID)}`, { ID: p.ID, ...f.value(), Datacenters: p.Datacenters || [] });
      policyPage(body, scope, id, true);
    } catch (err) { msg.show('error', `Not saved: ${err.message}`); }
  });
  try {
    const ts = (await read(scope, 'acl/tokens', { policy: p.ID })) || [];
    fill(users, h('h2', {}, 'Tokens linked to it'), !ts.length ? empty('No token this token may read links it directly.')
      : h('ul', {}, ts.map(t => h('li', {}, link(t.Description || t.AccessorID, 'acl', 'tokens', t.AccessorID)))));
  } catch (e) {
    if (e.name !== 'AbortError') fill(users, h('h2', {}, 'Tokens linked to it'), errorBox(e));
  }
}

// ---- roles

function roleFields(r, ps) {
  const name = field('role-name', 'Name', r.Name || '', { required: true });
  const desc = field('role-description', 'Description', r.Description || '');
  const policies = choices('policy', ps, r.Policies || []);
  return {
    els: [name.els, desc.els, policies.el],
    value: () => ({ Name: name.input.value.trim(), Description: desc.input.value.trim(), Policies: policies.picked() }),
  };
}

function roleList(body, scope) {
  const msg = notice('role-msg');
  const slot = h('div', {}, h('p', { class: 'muted' }, 'Loading policies…'));
  let f = roleFields({}, []);
  const form = h('form', { class: 'card create', id: 'role-create', 'aria-label': 'Create a role', hidden: true },
    h('h2', {}, 'Create a role'), slot,
    h('div', { class: 'row' }, h('button', { type: 'submit', id: 'create-role' }, 'Create role')), msg.el);
  const drawForm = ps => { f = roleFields({}, ps); fill(slot, f.els); };
  const refresh = listing(body, scope, {
    path: 'acl/roles', id: 'acl-roles', label: 'roles',
    none: 'There are no roles this token may read.',
    head: ['Name', 'Description', 'Policies', ''],
    row: (r, rowMsg) => h('tr', { dataset: { role: r.Name } },
      h('th', { scope: 'row' }, link(r.Name, 'acl', 'roles', r.ID)),
      h('td', {}, dash(r.Description)),
      h('td', {}, tags(names(r.Policies))),
      h('td', { class: 'actions' }, deleteButton(r.Name, `Delete the role ${r.Name}? Tokens linked to it lose its policies.`,
        () => call('DELETE', `acl/role/${pathOf(r.ID)}`), rowMsg, () => refresh()))),
    form,
  });
  readOr(scope, 'acl/policies').then(drawForm);
  form.addEventListener('submit', async e => {
    e.preventDefault();
    msg.clear();
    try {
      const r = await sendJSON('PUT', 'acl/role', f.value());
      msg.show('ok', 'Created role ', link(r.Name, 'acl', 'roles', r.ID), '.');
      form.reset();
      refresh();
    } catch (err) { msg.show('error', `Not created: ${err.message}`); }
  });
}

async function rolePage(body, scope, id, saved = false) {
  const msg = notice('role-edit-msg');
  fill(body, crumb('roles', 'Roles'), h('p', { class: 'muted' }, 'Loading…'));
  let r, ps;
  try {
    [r, ps] = await Promise.all([read(scope, `acl/role/${pathOf(id)}`), readOr(scope, 'acl/policies')]);
  } catch (e) {
    if (e.name !== 'AbortError') fill(body, crumb('roles', 'Roles'), failure(e));
    return;
  }
  const f = roleFields(r, ps);
  const form = h('form', { class: 'card create', id: 'role-edit', 'aria-label': 'Edit the role' },
    h('h2', {}, 'Edit'), f.els,
    h('div', { class: 'row' }, h('button', { type: 'submit', id: 'save-role' }, 'Save'),
      deleteButton(r.Name, `Delete the role ${r.Name}? Tokens linked to it lose its policies.`,
        () => call('DELETE', `acl/role/${pathOf(r.ID)}`), msg, () => { location.hash = '#/acl/roles'; })),
    msg.el);
  fill(body, crumb('roles', 'Roles'), h('h2', {}, r.Name),
    h('section', { class: 'card', 'aria-label': 'Role' }, facts([
      ['ID', h('span', { class: 'mono' }, r.ID)],
      ['Service identities', tags(names(r.ServiceIdentities))],
      ['Node identities', tags(names(r.NodeIdentities))],
    ])), form);
  if (saved) msg.show('ok', 'Saved.');
  form.addEventListener('submit', async e => {
    e.preventDefault();
    msg.clear();
    try {
      await sendJSON('PUT', `acl/role/${pathOf(r.ID)}`, {
        ID: r.ID, ...f.value(), ServiceIdentities: r.ServiceIdentities || [], NodeIdentities: r.NodeIdentities || [],
      });
      rolePage(body, scope, id, true);
    } catch (err) { msg.show('error', `Not saved: ${err.message}`); }
  });
}
