// A small line diff: the longest common subsequence of lines, after the
// common head and tail are cut off (so a one-line edit in a long file is cheap).

/** Lines of `a` and `b` as [{op: ' '|'-'|'+', text}], in order. */
export function lineDiff(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  let head = 0;
  while (head < x.length && head < y.length && x[head] === y[head]) head++;
  let tail = 0;
  while (tail < x.length - head && tail < y.length - head
    && x[x.length - 1 - tail] === y[y.length - 1 - tail]) tail++;
  const xs = x.slice(head, x.length - tail);
  const ys = y.slice(head, y.length - tail);
  const out = x.slice(0, head).map(text => ({ op: ' ', text }));
  if (xs.length * ys.length > 4_000_000) {
    // Too large to align line by line: all old lines out, all new in.
    xs.forEach(text => out.push({ op: '-', text }));
    ys.forEach(text => out.push({ op: '+', text }));
  } else {
    const n = xs.length, m = ys.length;
    // lcs[i][j]: length of the LCS of xs[i..] and ys[j..].
    const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i][j] = xs[i] === ys[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    let i = 0, j = 0;
    while (i < n && j < m) {
      if (xs[i] === ys[j]) { out.push({ op: ' ', text: xs[i] }); i++; j++; }
      else if (lcs[i + 1][j] >= lcs[i][j + 1]) out.push({ op: '-', text: xs[i++] });
      else out.push({ op: '+', text: ys[j++] });
    }
    while (i < n) out.push({ op: '-', text: xs[i++] });
    while (j < m) out.push({ op: '+', text: ys[j++] });
  }
  x.slice(x.length - tail).forEach(text => out.push({ op: ' ', text }));
  return out;
}
