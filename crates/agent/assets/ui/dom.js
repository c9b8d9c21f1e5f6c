// Building DOM without innerHTML: every value from the API is text, never markup.

/** h('a', {href: '#/x', class: 'c', onclick: fn}, 'text', child) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A badge for a check status. */
export function status(s) {
  return h('span', { class: `badge ${s}` }, s);
}

/** Counts of passing/warning/critical, omitting zeros except passing. */
export function healthCounts({ passing = 0, warning = 0, critical = 0 }) {
  return h('span', { class: 'counts' },
    h('span', { class: 'badge passing', title: 'passing checks' }, `${passing} passing`),
    warning ? h('span', { class: 'badge warning', title: 'warning checks' }, `${warning} warning`) : null,
    critical ? h('span', { class: 'badge critical', title: 'critical checks' }, `${critical} critical`) : null);
}

/** An empty state: a short sentence in a box. */
export function empty(text) {
  return h('p', { class: 'empty' }, text);
}

/** An error box for an ApiError (or any Error). */
export function errorBox(err) {
  return h('div', { class: 'error', role: 'alert' }, err.message || String(err));
}

/** Tags as small chips. */
export function tags(list) {
  if (!list || !list.length) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'tags' }, list.map(t => h('span', { class: 'tag' }, t)));
}

/** A definition list from [label, value] pairs. */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/** Meta as key=value chips. */
export function meta(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'tags' }, entries.map(([k, v]) => h('span', { class: 'tag meta' }, `${k}=${v}`)));
}

/**
 * A paged list: renders `rows` (already filtered) `size` at a time into a
 * <table> body, with previous/next controls. Returns {el, set(rows)}; the page
 * is kept across updates unless the rows shrink below it.
 */
export function pagedTable(head, renderRow, { size = 100, label = 'rows' } = {}) {
  let rows = [];
  let page = 0;
  const tbody = h('tbody');
  const info = h('span', { class: 'muted', 'aria-live': 'polite' });
  const prev = h('button', { type: 'button', onclick: () => { page--; draw(); } }, '← Previous');
  const next = h('button', { type: 'button', onclick: () => { page++; draw(); } }, 'Next →');
  const pager = h('div', { class: 'pager' }, prev, info, next);
  const table = h('table', {}, h('thead', {}, h('tr', {}, head.map(c => h('th', { scope: 'col' }, c)))), tbody);
  const el = h('div', { class: 'paged' }, h('div', { class: 'scroll' }, table), pager);
  function draw() {
    const pages = Math.max(1, Math.ceil(rows.length / size));
    page = Math.min(Math.max(0, page), pages - 1);
    const start = page * size;
    fill(tbody, rows.slice(start, start + size).map(renderRow));
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
    prev.hidden = next.hidden = pages === 1;
    info.textContent = rows.length
      ? `${start + 1}–${Math.min(start + size, rows.length)} of ${rows.length} ${label}`
      : `0 ${label}`;
  }
  return { el, set(r) { rows = r; draw(); }, reset() { page = 0; } };
}

/** A message line under a form: kind is 'ok', 'error' or 'info'. */
export function notice(id) {
  const el = h('div', { id, class: 'notice', role: 'status', 'aria-live': 'polite', hidden: true });
  return {
    el,
    show(kind, ...content) {
      el.className = `notice ${kind}`;
      fill(el, ...content);
      el.hidden = false;
    },
    clear() { el.hidden = true; fill(el); },
  };
}

/** Shows (err) or clears (null) the banner under the header. */
export function report(err) {
  const banner = document.getElementById('banner');
  if (!banner) return;
  banner.textContent = err ? err.message : '';
  banner.hidden = !err;
}

/** A link to a page of the UI; `parts` are encoded one by one. */
export function link(text, ...parts) {
  return h('a', { href: '#/' + parts.map(encodeURIComponent).join('/') }, text);
}

/**
 * Asks before something destructive, in a modal <dialog> (Escape or Cancel
 * says no). Resolves to true only when the user confirms.
 */
export function confirmDialog(message, confirmLabel = 'Delete') {
  return new Promise(resolve => {
    const yes = h('button', { type: 'submit', class: 'danger', value: 'yes', id: 'confirm-yes' }, confirmLabel);
    const no = h('button', { type: 'submit', value: 'no', id: 'confirm-no' }, 'Cancel');
    const dlg = h('dialog', { class: 'confirm', 'aria-label': 'Confirm' },
      h('form', { method: 'dialog' }, h('p', {}, message), h('div', { class: 'actions' }, no, yes)));
    dlg.addEventListener('close', () => { resolve(dlg.returnValue === 'yes'); dlg.remove(); });
    document.body.append(dlg);
    dlg.showModal();
    yes.focus();
  });
}
