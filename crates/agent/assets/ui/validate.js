// Checks a value against the format it claims before it is saved.

let yaml = null;

/** The format a key's value is most likely in: from its name, then its text. */
export function guessFormat(key, text) {
  if (/\.json$/i.test(key)) return 'json';
  if (/\.ya?ml$/i.test(key)) return 'yaml';
  const t = text.trim();
  if (t.startsWith('{') || t.startsWith('[')) return 'json';
  return 'text';
}

/** null when `text` is valid `format`, else a one-line reason. */
export async function validate(format, text) {
  if (format === 'json') {
    try { JSON.parse(text); return null; } catch (e) { return `Invalid JSON: ${e.message}`; }
  }
  if (format === 'yaml') {
    // Loaded only when needed: most pages never validate YAML.
    yaml ??= await import('./vendor/js-yaml.mjs');
    try { yaml.load(text); return null; } catch (e) { return `Invalid YAML: ${e.message.split('\n')[0]}`; }
  }
  return null;
}
