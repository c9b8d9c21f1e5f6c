// Key/value: folders (listed with ?keys&separator=/, paged), creating keys
// and folders, editing a value with JSON/YAML validation, deleting keys and
// whole folders after confirmation, and a key's history with a diff between
// any two versions and a rollback written with check-and-set.

import { call, getJSON, pathOf, decodeValue, valueBytes } from '../api.js';
import { h, fill, empty, errorBox, facts, pagedTable, report, confirmDialog, notice } from '../dom.js';
import { guessFormat, validate } from '../validate.js';
import { lineDiff } from '../diff.js';

const HISTORY_LIMIT = 50;

/** `#/kv/<path>`: a folder when the path is empty or ends with '/', else a key. */
export function kvRoute(main, scope, path) {
  if (path === '' || path.endsWith('/')) folderPage(main, scope, path);
  else keyPage(main, scope, path);
}

/** The UI link of a key or folder. */
function kvHref(key) {
  return '#/kv/' + pathOf(key);
}

/** Breadcrumbs: Key/Value / app / db / for "app/db/…". */
function crumbs(path) {
  const parts = path.split('/');
  const out = [h('a', { href: '#/kv/' }, 'Key/Value')];
  let acc = '';
  for (let i = 0; i < parts.length - 1; i++) {
    acc += parts[i] + '/';
    out.push(' / ', h('a', { href: kvHref(acc) }, parts[i]));
  }
  return h('nav', { class: 'crumbs', 'aria-label': 'Folders' }, out, ' /');
}

function parentOf(key) {
  const trimmed = key.endsWith('/') ? key.slice(0, -1) : key;
  const cut = trimmed.lastIndexOf('/');
  return cut < 0 ? '' : trimmed.slice(0, cut + 1);
}

/** The format picker, with text/JSON/YAML. */
function formatSelect(id, value) {
  const sel = h('select', { id, name: 'format' },
    h('option', { value: 'text' }, 'Plain text'),
    h('option', { value: 'json' }, 'JSON'),
    h('option', { value: 'yaml' }, 'YAML'));
  sel.value = value;
  return sel;
}

/**
 * Validates `text` as `format`; when invalid, shows why with a "Save anyway"
 * button that runs `save`. Returns true when the caller may save now.
 */
async function checkBeforeSave(format, text, msg, save) {
  const err = await validate(format, text);
  if (!err) return true;
  msg.show('error', h('span', { class: 'invalid' }, `${err}. Not saved.`), ' ',
    h('button', { type: 'button', class: 'danger', id: 'save-anyway', onclick: () => { msg.clear(); save(); } }, 'Save anyway'));
  return false;
}

function folderPage(main, scope, prefix) {
  document.title = `${prefix || 'Key/Value'} · Praetor`;
  let keys = null;
  let hidden = false; // ACLs left keys out of the last answer
  const filter = h('input', {
    type: 'search', id: 'kv-filter', placeholder: 'Filter this folder', 'aria-label': 'Filter keys',
    oninput: () => { table.reset(); draw(); },
  });
  const table = pagedTable(['Name', 'Kind', ''], k => {
    const folder = k.endsWith('/');
    const name = k.slice(prefix.length);
    return h('tr', { dataset: { key: k } },
      h('th', { scope: 'row' }, h('a', { href: kvHref(k), class: folder ? 'folder' : 'key' }, name)),
      h('td', { class: 'muted' }, folder ? 'folder' : 'key'),
      h('td', { class: 'actions' }, h('button', {
        type: 'button', class: 'danger small', 'aria-label': `Delete ${k}`,
        onclick: () => remove(k),
      }, 'Delete')));
  }, { label: 'entries' });
  const body = h('div', { id: 'kv-list' }, h('p', { class: 'muted' }, 'Loading…'));
  const msg = notice('create-msg');

  // Create a key or (name ending in '/') a folder here.
  const name = h('input', { id: 'new-key', name: 'key', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'name, or folder/' });
  const value = h('textarea', { id: 'new-value', name: 'value', rows: 5, spellcheck: 'false' });
  const format = formatSelect('new-format', 'text');
  name.addEventListener('input', () => {
    value.disabled = name.value.endsWith('/');
    format.value = guessFormat(name.value, value.value);
  });
  const form = h('form', { class: 'card create', id: 'kv-create', 'aria-label': 'Create a key or folder' },
    h('h2', {}, 'Create'),
    h('label', { for: 'new-key' }, `Key or folder under ${prefix || '/'} (end a folder with /)`), name,
    h('label', { for: 'new-value' }, 'Value'), value,
    h('div', { class: 'row' }, h('label', { for: 'new-format' }, 'Validate as'), format,
      h('button', { type: 'submit', id: 'create' }, 'Create')),
    msg.el);
  form.addEventListener('submit', async e => {
    e.preventDefault();
    msg.clear();
    const rel = name.value.trim();
    if (!rel || rel === '/' || rel.startsWith('/')) { msg.show('error', 'Give a name that does not start with /.'); return; }
    const key = prefix + rel;
    const folder = key.endsWith('/');
    const body = folder ? '' : value.value;
    const save = async () => {
      try {
        // cas=0: create only; an existing key is never overwritten from here.
        const r = await call('PUT', 'kv/' + pathOf(key), { query: { cas: 0 }, body });
        if ((await r.text()).trim() !== 'true') {
          msg.show('error', `${key} already exists; open it to edit it.`);
          return;
        }
        location.hash = kvHref(key);
      } catch (err) { msg.show('error', err.message); }
    };
    if (folder || await checkBeforeSave(format.value, body, msg, save)) save();
  });
  value.addEventListener('keydown', e => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit(); });

  const tools = [filter];
  if (prefix) {
    tools.push(h('button', { type: 'button', class: 'danger', id: 'delete-folder', onclick: () => remove(prefix) }, 'Delete folder'));
  }
  main.append(crumbs(prefix), h('h1', {}, prefix || 'Key/Value'), h('div', { class: 'toolbar' }, tools), body, form);

  async function remove(k) {
    const folder = k.endsWith('/');
    const ok = await confirmDialog(folder
      ? `Delete the folder ${k} and every key under it? This cannot be undone here (the history keeps each value).`
      : `Delete the key ${k}?`);
    if (!ok) return;
    try {
      await call('DELETE', 'kv/' + pathOf(k), { query: folder ? { recurse: true } : {} });
      if (k === prefix) location.hash = kvHref(parentOf(prefix));
    } catch (err) { report(err); }
  }

  // ACLs hid every entry: the folders a token may read can still be opened
  // by path (Consul lists only keys the token may read, not their parents).
  function hiddenHere() {
    const path = h('input', { id: 'kv-goto', 'aria-label': 'Folder or key path', placeholder: 'config/app/', spellcheck: 'false', autocomplete: 'off' });
    const go = h('form', { class: 'row', onsubmit: e => { e.preventDefault(); const to = path.value.trim().replace(/^\/+/, ''); if (to) location.hash = kvHref(to); } },
      path, h('button', { type: 'submit' }, 'Open'));
    return h('div', { class: 'empty' }, 'This token may read no keys here. Open a folder or key it may read by its path:', go);
  }

  function draw() {
    if (!keys) return;
    const here = keys.filter(k => k !== prefix);
    if (!here.length && hidden) { fill(body, hiddenHere()); return; }
    if (!here.length) { fill(body, empty(prefix ? 'This folder is empty.' : 'There are no keys yet. Create one below.')); return; }
    const q = filter.value.trim().toLowerCase();
    const rows = q ? here.filter(k => k.slice(prefix.length).toLowerCase().includes(q)) : here;
    if (!rows.length) { fill(body, empty('Nothing here matches the filter.')); return; }
    if (body.firstChild !== table.el) fill(body, table.el);
    table.set(rows);
  }

  scope.watch('kv/' + pathOf(prefix), { query: { keys: true, separator: '/' }, allow404: true }, (d, _, f) => {
    keys = d || [];
    hidden = f;
    draw();
  }, e => { report(e); if (e && !keys) fill(body, errorBox(e)); });
}

function keyPage(main, scope, key) {
  document.title = `${key} · Praetor`;
  let entry;          // the live entry (null: the key does not exist)
  let base = null;    // the entry the editor text came from
  let dirty = false;
  let versions = [];
  let pick = { a: null, b: null };

  const meta = h('section', { class: 'card', id: 'kv-meta', 'aria-label': 'Key' }, h('p', { class: 'muted' }, 'Loading…'));
  const editor = h('textarea', { id: 'kv-value', name: 'value', rows: 8, spellcheck: 'false', 'aria-label': 'Value' });
  const format = formatSelect('kv-format', 'text');
  const msg = notice('edit-msg');
  const stale = notice('stale-msg');
  const saveBtn = h('button', { type: 'submit', id: 'save' }, 'Save');
  const delBtn = h('button', { type: 'button', class: 'danger', id: 'delete-key', onclick: () => del() }, 'Delete key');
  const form = h('form', { class: 'card', id: 'kv-edit', 'aria-label': 'Edit value' },
    h('h2', {}, 'Value'), stale.el, editor,
    h('div', { class: 'row' }, h('label', { for: 'kv-format' }, 'Validate as'), format, saveBtn, delBtn,
      h('span', { class: 'muted small' }, 'Ctrl+Enter saves')),
    msg.el);
  const history = h('section', { class: 'card', id: 'kv-history', 'aria-label': 'History' }, h('h2', {}, 'History'), h('p', { class: 'muted' }, 'Loading…'));
  const diff = h('section', { class: 'card', id: 'kv-diff', 'aria-label': 'Difference', hidden: true });
  main.append(crumbs(key), h('h1', { class: 'key' }, key), meta, form, history, diff);

  editor.addEventListener('input', () => { dirty = true; });
  editor.addEventListener('keydown', e => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit(); });

  form.addEventListener('submit', async e => {
    e.preventDefault();
    msg.clear();
    const text = editor.value;
    const save = async () => {
      // cas: only over the version this text was based on (0: still absent).
      const cas = base ? base.ModifyIndex : 0;
      const query = { cas, flags: base ? base.Flags : undefined };
      try {
        const r = await call('PUT', 'kv/' + pathOf(key), { query, body: text });
        if ((await r.text()).trim() === 'true') {
          dirty = false;
          msg.show('ok', 'Saved.');
        } else {
          msg.show('error', h('strong', {}, 'Conflict: not saved. '),
            `${key} changed since you loaded it (you edited the version at index ${cas}). Your text is still here; load the new value to compare, then save again.`);
        }
      } catch (err) { msg.show('error', err.message); }
    };
    if (await checkBeforeSave(format.value, text, msg, save)) save();
  });

  async function del() {
    if (!(await confirmDialog(`Delete the key ${key}?`))) return;
    try {
      await call('DELETE', 'kv/' + pathOf(key));
      msg.show('ok', 'Deleted. Its history stays below: roll back to restore it.');
    } catch (err) { msg.show('error', err.message); }
  }

  function load(e) {
    base = e;
    dirty = false;
    stale.clear();
    const v = e ? decodeValue(e.Value) : { text: '', binary: false };
    editor.value = v.text;
    editor.readOnly = v.binary;
    if (v.binary) stale.show('info', 'This value is not UTF-8 text; it is shown read-only.');
    format.value = guessFormat(key, v.text);
  }

  function drawMeta() {
    if (!entry) {
      fill(meta, empty(`${key} does not exist${versions.length ? ' now (its history is below)' : ''}. Saving creates it.`));
      delBtn.disabled = true;
      return;
    }
    delBtn.disabled = false;
    fill(meta, facts([
      ['Flags', h('span', { id: 'kv-flags' }, String(entry.Flags))],
      ['CreateIndex', h('span', { id: 'kv-create-index' }, String(entry.CreateIndex))],
      ['ModifyIndex', h('span', { id: 'kv-modify-index' }, String(entry.ModifyIndex))],
      ['LockIndex', String(entry.LockIndex)],
      ['Session', entry.Session || '—'],
    ]));
  }

  scope.watch('kv/' + pathOf(key), { allow404: true }, d => {
    const first = entry === undefined;
    entry = d ? d[0] : null;
    drawMeta();
    const same = base && entry && base.ModifyIndex === entry.ModifyIndex;
    if (first || !dirty) load(entry);
    else if (!same) {
      stale.show('info', `${key} changed (now at index ${entry ? entry.ModifyIndex : 'deleted'}) while you were editing. `,
        h('button', { type: 'button', id: 'load-new', onclick: () => { load(entry); msg.clear(); } }, 'Load the new value'));
    }
  }, e => { report(e); if (e && entry === undefined) fill(meta, errorBox(e)); });

  scope.watch('history/kv/' + pathOf(key), { query: { limit: HISTORY_LIMIT }, allow404: true }, d => {
    versions = d || [];
    // Keep the picked pair when still listed; else the last change.
    const has = i => versions.some(v => v.Index === i);
    if (!has(pick.a) || !has(pick.b)) {
      pick = { a: versions[1]?.Index ?? null, b: versions[0]?.Index ?? null };
    }
    drawHistory();
    if (entry !== undefined) drawMeta();
  }, e => { report(e); if (e) fill(history, h('h2', {}, 'History'), errorBox(e)); });

  function drawHistory() {
    if (!versions.length) {
      fill(history, h('h2', {}, 'History'), empty('No history is kept for this key.'));
      diff.hidden = true;
      return;
    }
    const newest = versions[0];
    fill(history, h('h2', {}, 'History'),
      h('p', { class: 'muted small' }, `The last ${versions.length} change${versions.length === 1 ? '' : 's'}, newest first. Pick two to compare (A older, B newer).`),
      h('div', { class: 'scroll' }, h('table', { class: 'history' },
        h('thead', {}, h('tr', {}, ['A', 'B', 'Index', 'Change', 'Flags', 'Value', ''].map(c => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, versions.map((v, i) => {
          const text = v.Op === 'delete' ? '' : decodeValue(v.Value).text;
          const radio = side => h('input', {
            type: 'radio', name: `pick-${side}`, 'aria-label': `Compare ${side === 'a' ? 'from' : 'to'} index ${v.Index}`,
            checked: pick[side] === v.Index, onchange: () => { pick[side] = v.Index; drawDiff(); },
          });
          const current = i === 0 && v.Op === 'set';
          return h('tr', { dataset: { index: v.Index, op: v.Op } },
            h('td', {}, radio('a')), h('td', {}, radio('b')),
            h('td', { class: 'num' }, String(v.Index)),
            h('td', {}, v.Op === 'delete' ? h('span', { class: 'badge critical' }, 'deleted') : current ? h('span', { class: 'badge passing' }, 'current') : 'set'),
            h('td', { class: 'num' }, v.Op === 'delete' ? '' : String(v.Flags)),
            h('td', {}, h('code', { class: 'preview' }, text.length > 80 ? text.slice(0, 80) + '…' : text)),
            h('td', { class: 'actions' }, v.Op === 'set' && !current
              ? h('button', { type: 'button', class: 'rollback', 'aria-label': `Roll back to index ${v.Index}`, onclick: () => rollback(v, newest) }, 'Roll back')
              : null));
        })))));
    drawDiff();
  }

  function drawDiff() {
    const a = versions.find(v => v.Index === pick.a);
    const b = versions.find(v => v.Index === pick.b);
    if (!a || !b) { diff.hidden = true; return; }
    const [older, newer] = a.Index <= b.Index ? [a, b] : [b, a];
    const text = v => (v.Op === 'delete' ? '' : decodeValue(v.Value).text);
    const lines = lineDiff(text(older), text(newer));
    const changed = lines.some(l => l.op !== ' ');
    fill(diff, h('h2', {}, `Changes from index ${older.Index} to ${newer.Index}`),
      !changed ? empty('The two versions hold the same value.')
        : h('pre', { class: 'diff', id: 'diff-lines' }, lines.map(l => h('span', {
          class: l.op === '+' ? 'add' : l.op === '-' ? 'del' : 'same',
        }, `${l.op} ${l.text}\n`))));
    diff.hidden = false;
  }

  async function rollback(v, newest) {
    // Check-and-set against the newest version this list shows: if anyone
    // changed the key since, the write is refused instead of undoing it.
    const cas = newest.Op === 'delete' ? 0 : newest.ModifyIndex;
    const ok = await confirmDialog(
      `Write the value of index ${v.Index} back to ${key}? Only if ${key} is still at ${cas ? 'index ' + cas : 'deleted'}.`, 'Roll back');
    if (!ok) return;
    try {
      const r = await call('PUT', 'kv/' + pathOf(key), { query: { cas, flags: v.Flags }, body: valueBytes(v.Value) });
      if ((await r.text()).trim() === 'true') {
        msg.show('ok', `Rolled back to the value of index ${v.Index}.`);
      } else {
        msg.show('error', h('strong', {}, 'Conflict: not rolled back. '),
          `${key} changed after index ${cas} and that change is not shown here yet; look at the history again, then retry.`);
      }
    } catch (err) { msg.show('error', err.message); }
  }
}
