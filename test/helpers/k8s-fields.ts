// Unknown-field check for Kubernetes objects. kubernetes-models validates types, required
// fields and enums but accepts fields the API does not have (a typo such as `readinesProbe` is
// silently dropped by the API server). The field names are read from the packages' own type
// declarations (.d.ts: one interface per API type, or inline object types for CRDs), so this
// follows the pinned schema versions exactly.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

type FieldType =
  | { kind: 'leaf' }
  | { kind: 'map'; value: FieldType }
  | { kind: 'array'; item: FieldType }
  | { kind: 'ref'; file: string; name: string }
  | { kind: 'object'; fields: Map<string, FieldType>; open: boolean };

const files = new Map<string, { text: string; imports: Map<string, string> }>();

function load(file: string): { text: string; imports: Map<string, string> } {
  const cached = files.get(file);
  if (cached) return cached;
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
    const [, name = '', spec = ''] = m;
    const base = spec.startsWith('.')
      ? resolve(dirname(file), spec)
      : resolve(nodeModules(file), spec);
    imports.set(name, base.replace(/\.js$/, '') + '.d.ts');
  }
  const entry = { text, imports };
  files.set(file, entry);
  return entry;
}

function nodeModules(file: string): string {
  let dir = dirname(file);
  while (!dir.endsWith('node_modules')) dir = dirname(dir);
  return dir;
}

/** Parses a TypeScript type expression of a .d.ts file from position `at`. */
function parseType(file: string, text: string, at: number): { type: FieldType; end: number } {
  let i = at;
  function skip(): void {
    while (/\s/.test(text[i] ?? '')) i += 1;
  }
  skip();
  function parseOne(): FieldType {
    skip();
    if (text[i] === '{') {
      i += 1;
      const fields = new Map<string, FieldType>();
      let mapValue: FieldType | undefined;
      for (;;) {
        skip();
        if (text[i] === '}') {
          i += 1;
          break;
        }
        const prop = /^"([^"]+)"\??:|^\[key: string\]:/.exec(text.slice(i));
        if (!prop) throw new Error(`${file}: cannot parse a property at ${text.slice(i, i + 60)}`);
        i += prop[0].length;
        const inner = parseType(file, text, i);
        i = inner.end;
        if (prop[1] === undefined) mapValue = inner.type;
        else fields.set(prop[1], inner.type);
        skip();
        if (text[i] === ';') i += 1;
      }
      return mapValue && fields.size === 0
        ? { kind: 'map', value: mapValue }
        : { kind: 'object', fields, open: mapValue !== undefined };
    }
    if (text.startsWith('Array<', i)) {
      i += 'Array<'.length;
      const item = parseUnion();
      skip();
      i += 1; // '>'
      return { kind: 'array', item };
    }
    const word = /^("(?:[^"\\]|\\.)*"|[\w.]+)/.exec(text.slice(i));
    if (!word) throw new Error(`${file}: cannot parse a type at ${text.slice(i, i + 60)}`);
    i += word[0].length;
    const ref = load(file).imports.get(word[0]);
    if (ref && existsSync(ref)) return { kind: 'ref', file: ref, name: word[0] };
    return { kind: 'leaf' };
  }
  function parseUnion(): FieldType {
    const types = [parseOne()];
    for (;;) {
      skip();
      if (text[i] !== '|') break;
      i += 1;
      types.push(parseOne());
    }
    // A union of objects and leaves (rare): the object decides which fields exist.
    return types.find((t) => t.kind !== 'leaf') ?? { kind: 'leaf' };
  }
  const type = parseUnion();
  return { type, end: i };
}

const interfaces = new Map<string, FieldType>();

/** The fields of the (first) exported interface of a .d.ts file. */
function interfaceOf(file: string): FieldType {
  const cached = interfaces.get(file);
  if (cached) return cached;
  const { text } = load(file);
  const m = /export interface \w+(?: extends ([\w, ]+))? /.exec(text);
  if (!m) {
    // A type alias (IntOrString, Quantity): a leaf.
    const leaf: FieldType = { kind: 'leaf' };
    interfaces.set(file, leaf);
    return leaf;
  }
  const placeholder: FieldType = { kind: 'object', fields: new Map(), open: true };
  interfaces.set(file, placeholder); // recursive types (JSONSchemaProps) end here
  const type = parseType(file, text, m.index + m[0].length).type;
  // Fields of the interfaces it extends (TypeMeta, outside these packages, adds none).
  for (const base of (m[1] ?? '').split(',').map((b) => b.trim())) {
    const baseFile = load(file).imports.get(base);
    const inherited = baseFile && existsSync(baseFile) ? interfaceOf(baseFile) : undefined;
    if (type.kind === 'object' && inherited?.kind === 'object')
      for (const [k, v] of inherited.fields) if (!type.fields.has(k)) type.fields.set(k, v);
  }
  interfaces.set(file, type);
  return type;
}

/** Paths of the fields of `value` that its API type does not have. */
export function unknownFields(value: unknown, declarationFile: string): string[] {
  const out: string[] = [];
  const walk = (v: unknown, t: FieldType, path: string): void => {
    if (t.kind === 'ref') return walk(v, interfaceOf(t.file), path);
    if (t.kind === 'array' && Array.isArray(v))
      return v.forEach((x, n) => walk(x, t.item, `${path}[${n}]`));
    if (t.kind === 'map' && v && typeof v === 'object')
      return Object.entries(v).forEach(([k, x]) => walk(x, t.value, `${path}.${k}`));
    if (t.kind === 'object' && v && typeof v === 'object' && !Array.isArray(v))
      for (const [k, x] of Object.entries(v)) {
        const f = t.fields.get(k);
        if (f) walk(x, f, `${path}.${k}`);
        else if (!t.open) out.push(`${path}.${k}`);
      }
  };
  walk(value, interfaceOf(declarationFile), '');
  return out;
}

/** The .d.ts of a kubernetes-models class: <module>/<Kind>.d.ts under node_modules. */
export function declarationFile(root: string, module: string, kind: string): string {
  return join(root, 'node_modules', module, `${kind}.d.ts`);
}
