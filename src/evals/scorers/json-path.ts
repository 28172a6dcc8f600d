/** A path the evaluator cannot read: an error of the dataset, never a silent fail or pass. */
export class JsonPathInvalid extends Error {
  override readonly name = 'JsonPathInvalid';
}

const SEGMENT = /^(?:\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[(-\d+)\]|\['([^']*)'\]|\["([^"]*)"\])/u;

/** Parses `$.a.b[0]['c d']` (a subset of JSONPath: names, indexes, negative indexes) into keys. */
export function parseJsonPath(path: string): (string | number)[] {
  if (!path.startsWith('$')) throw new JsonPathInvalid(`a path starts with $: ${path}`);
  const keys: (string | number)[] = [];
  let rest = path.slice(1);
  while (rest.length > 0) {
    const m = SEGMENT.exec(rest);
    if (!m) throw new JsonPathInvalid(`cannot read the path at "${rest}"`);
    if (m[1] !== undefined) keys.push(m[1]);
    else if (m[2] !== undefined) keys.push(Number(m[2]));
    else if (m[3] !== undefined) keys.push(Number(m[3]));
    else keys.push(m[4] ?? m[5] ?? '');
    rest = rest.slice(m[0].length);
  }
  return keys;
}

/** The value at `path` in `doc`, or undefined when any step is absent. */
export function jsonPath(doc: unknown, path: string): unknown {
  let at: unknown = doc;
  for (const key of parseJsonPath(path)) {
    if (typeof key === 'number') {
      if (!Array.isArray(at)) return undefined;
      at = at[key < 0 ? at.length + key : key];
    } else {
      if (at === null || typeof at !== 'object' || Array.isArray(at) || !Object.hasOwn(at, key))
        return undefined;
      at = (at as Record<string, unknown>)[key];
    }
  }
  return at;
}
