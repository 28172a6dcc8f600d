/**
 * The templates of HTTP actions: `{name}` in a URL is the argument's value, percent-encoded; in a
 * body, a string that is exactly `{name}` becomes the value itself (any JSON type) and `{name}`
 * inside a longer string is replaced by its text. Dotted names reach into objects:
 * `{result.id}` is the id in the call's result (compensations). A name with no value is empty.
 */
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_.-]*)\}/g;
const WHOLE = /^\{([A-Za-z_][A-Za-z0-9_.-]*)\}$/;

function lookup(vars: Record<string, unknown>, path: string): unknown {
  let v: unknown = vars;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

const text = (v: unknown): string =>
  v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);

export function fillUrl(template: string, vars: Record<string, unknown>): string {
  return template.replace(PLACEHOLDER, (_, name: string) =>
    encodeURIComponent(text(lookup(vars, name))),
  );
}

export function fillText(template: string, vars: Record<string, unknown>): string {
  return template.replace(PLACEHOLDER, (_, name: string) => text(lookup(vars, name)));
}

export function fillBody(template: unknown, vars: Record<string, unknown>): unknown {
  if (typeof template === 'string') {
    const whole = WHOLE.exec(template);
    if (whole?.[1]) return lookup(vars, whole[1]) ?? null;
    return fillText(template, vars);
  }
  if (Array.isArray(template)) return template.map((t) => fillBody(t, vars));
  if (template !== null && typeof template === 'object')
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, fillBody(v, vars)]));
  return template;
}
