// Live views: one long-poll loop of blocking queries (?index=&wait=) per
// query of the visible view. A loop backs off on errors, pauses while the tab
// is hidden (its request aborted) and resumes when it is shown again.

import { getJSON } from './api.js';

const WAIT = '30s';
const MAX_BACKOFF_MS = 5000;

/** Resolves when the document is visible (at once if it is). */
function whenVisible(signal) {
  if (!document.hidden) return Promise.resolve();
  return new Promise(resolve => {
    const done = () => {
      if (!document.hidden || signal.aborted) {
        document.removeEventListener('visibilitychange', done);
        signal.removeEventListener('abort', done);
        resolve();
      }
    };
    document.addEventListener('visibilitychange', done);
    signal.addEventListener('abort', done);
  });
}

function sleep(ms, signal) {
  return new Promise(resolve => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}

/** Every running loop, for tests and debugging (window.praetorLive). */
export const stats = { started: 0, running: 0, requests: 0 };
window.praetorLive = stats;

/**
 * A scope owns the loops and listeners of one view; dispose() stops them all.
 * It also keeps, per query, whether the last answer was filtered by ACLs
 * (X-Consul-Results-Filtered-By-ACLs) and calls onFiltered(any) when that
 * changes, so the page can say some results are hidden.
 */
export class Scope {
  constructor({ onFiltered = () => {} } = {}) {
    this.ctrl = new AbortController();
    this.cleanups = [];
    this.filtered = new Map();
    this.onFiltered = onFiltered;
  }

  /** Records whether the answer to `query` left something out. */
  noteFiltered(query, filtered) {
    if (this.signal.aborted || this.filtered.get(query) === filtered) return;
    this.filtered.set(query, filtered);
    this.onFiltered([...this.filtered.values()].some(Boolean));
  }

  get signal() { return this.ctrl.signal; }

  onDispose(fn) { this.cleanups.push(fn); }

  dispose() {
    this.ctrl.abort();
    for (const fn of this.cleanups.splice(0)) fn();
  }

  /**
   * Calls onData(data, index, filtered) with the answer of GET v1/<path>,
   * then again each time it changes (filtered: ACLs left something out).
   * onError(err) on a failure (then retries with backoff); onError(null)
   * when it works again.
   */
  watch(path, { query = {}, allow404 = false } = {}, onData, onError = () => {}) {
    const scope = this.signal;
    stats.started++;
    stats.running++;
    scope.addEventListener('abort', () => { stats.running--; }, { once: true });
    (async () => {
      let index = 0;
      let backoff = 0;
      let failing = false;
      while (!scope.aborted) {
        await whenVisible(scope);
        if (scope.aborted) break;
        // This request is aborted when the view goes or the tab hides.
        const req = new AbortController();
        const abort = () => req.abort();
        const onHide = () => { if (document.hidden) req.abort(); };
        scope.addEventListener('abort', abort);
        document.addEventListener('visibilitychange', onHide);
        try {
          stats.requests++;
          const q = index ? { ...query, index, wait: WAIT } : query;
          const r = await getJSON(path, { query: q, signal: req.signal, allow404 });
          if (failing) { failing = false; onError(null); }
          backoff = 0;
          this.noteFiltered(path, r.filtered);
          // An index that goes backwards means the state was reset: start over.
          const changed = r.index !== index || index === 0;
          index = r.index > 0 && r.index >= index ? r.index : 0;
          if (changed) onData(r.data, r.index, r.filtered);
          // Endpoints without an index cannot block: pace them.
          if (!r.index) await sleep(2000, scope);
        } catch (e) {
          if (e.name === 'AbortError' || scope.aborted) continue;
          failing = true;
          onError(e);
          backoff = Math.min(MAX_BACKOFF_MS, backoff ? backoff * 2 : 500);
          await sleep(backoff * (0.75 + Math.random() / 2), scope);
        } finally {
          scope.removeEventListener('abort', abort);
          document.removeEventListener('visibilitychange', onHide);
        }
      }
    })();
  }
}
