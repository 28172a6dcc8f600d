import { AppError } from '../platform/http/errors.js';

/** 400 invalidFilter (RFC 7644 §3.4.2.2), in SCIM's error shape on SCIM routes. */
export class InvalidFilter extends AppError {
  constructor(detail: string) {
    super(400, 'invalidFilter', `Invalid filter: ${detail}`);
  }
}

const COMPARE_OPS = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'] as const;
type CompareOp = (typeof COMPARE_OPS)[number];
function isCompareOp(s: string | undefined): s is CompareOp {
  return (COMPARE_OPS as readonly (string | undefined)[]).includes(s);
}
type Literal = string | number | boolean | null;

export type FilterNode =
  | { kind: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { kind: 'not'; expr: FilterNode }
  | { kind: 'pr'; path: string }
  | { kind: 'cmp'; path: string; op: CompareOp; value: Literal }
  /** `members[value eq "…"]`: a complex attribute with a filter on its sub-attributes. */
  | { kind: 'any'; path: string; expr: FilterNode };

const TOKEN =
  /\s*(?:(\()|(\))|(\[)|(\])|("(?:[^"\\]|\\.)*")|([A-Za-z][\w:.$-]*(?:\.[A-Za-z][\w$-]*)*)|(-?\d+(?:\.\d+)?))/y;

type Tok =
  | { t: '(' | ')' | '[' | ']' }
  | { t: 'str'; v: string }
  | { t: 'word'; v: string }
  | { t: 'num'; v: number };

function tokenize(text: string): Tok[] {
  const out: Tok[] = [];
  TOKEN.lastIndex = 0;
  let at = 0;
  while (at < text.length) {
    if (/^\s*$/.test(text.slice(at))) break;
    TOKEN.lastIndex = at;
    const m = TOKEN.exec(text);
    if (!m) throw new InvalidFilter(`unexpected text at ${at}: ${text.slice(at, at + 20)}`);
    at = TOKEN.lastIndex;
    if (m[1]) out.push({ t: '(' });
    else if (m[2]) out.push({ t: ')' });
    else if (m[3]) out.push({ t: '[' });
    else if (m[4]) out.push({ t: ']' });
    else if (m[5] !== undefined) out.push({ t: 'str', v: parseString(m[5]) });
    else if (m[6] !== undefined) out.push({ t: 'word', v: m[6] });
    else out.push({ t: 'num', v: Number(m[7]) });
  }
  return out;
}

function parseString(quoted: string): string {
  try {
    const v: unknown = JSON.parse(quoted);
    if (typeof v === 'string') return v;
  } catch {
    // falls through to the refusal
  }
  throw new InvalidFilter(`bad string ${quoted}`);
}

/** Parses a SCIM filter (RFC 7644 §3.4.2.2): and / or / not, parentheses, value paths. */
export function parseFilter(text: string): FilterNode {
  if (text.length > 2000) throw new InvalidFilter('too long');
  const toks = tokenize(text);
  let i = 0;
  function peekWord(): string | undefined {
    const t = toks[i];
    return t?.t === 'word' ? t.v.toLowerCase() : undefined;
  }
  function expect(t: '(' | ')' | '[' | ']'): void {
    if (toks[i]?.t !== t) throw new InvalidFilter(`expected ${t}`);
    i++;
  }
  function orExpr(): FilterNode {
    let left = andExpr();
    while (peekWord() === 'or') {
      i++;
      left = { kind: 'or', left, right: andExpr() };
    }
    return left;
  }
  function andExpr(): FilterNode {
    let left = unary();
    while (peekWord() === 'and') {
      i++;
      left = { kind: 'and', left, right: unary() };
    }
    return left;
  }
  function unary(): FilterNode {
    if (peekWord() === 'not') {
      i++;
      expect('(');
      const expr = orExpr();
      expect(')');
      return { kind: 'not', expr };
    }
    if (toks[i]?.t === '(') {
      i++;
      const expr = orExpr();
      expect(')');
      return expr;
    }
    return attrExpr();
  }
  function attrExpr(): FilterNode {
    const tok = toks[i++];
    if (tok?.t !== 'word') throw new InvalidFilter('expected an attribute');
    const path = tok.v;
    if (toks[i]?.t === '[') {
      i++;
      const expr = orExpr();
      expect(']');
      return { kind: 'any', path, expr };
    }
    const op = peekWord();
    if (op === 'pr') {
      i++;
      return { kind: 'pr', path };
    }
    if (!isCompareOp(op)) throw new InvalidFilter(`expected an operator after ${path}`);
    i++;
    const v = toks[i++];
    let value: Literal;
    if (v?.t === 'str' || v?.t === 'num') value = v.v;
    else if (v?.t === 'word' && ['true', 'false', 'null'].includes(v.v.toLowerCase()))
      value = v.v.toLowerCase() === 'null' ? null : v.v.toLowerCase() === 'true';
    else throw new InvalidFilter(`expected a value after ${path} ${op}`);
    return { kind: 'cmp', path, op, value };
  }
  const node = orExpr();
  if (i !== toks.length) throw new InvalidFilter('unexpected text after the expression');
  return node;
}

/** How one attribute reads in SQL: its expression, type, and whether comparison ignores case. */
export interface FilterColumn {
  sql: string;
  type: 'text' | 'bool' | 'timestamptz';
  caseExact?: boolean;
}

/** A value-path attribute (`members[value eq …]`): an EXISTS over its rows, one column per sub-attribute. */
export interface FilterCollection {
  exists: (where: string) => string;
  columns: Record<string, FilterColumn>;
}

export interface FilterSchema {
  columns: Record<string, FilterColumn>;
  collections?: Record<string, FilterCollection>;
}

function normalisePath(path: string): string {
  // A fully qualified core attribute (urn:…:User:userName) is the plain attribute.
  const m = /^urn:ietf:params:scim:schemas:core:2\.0:(?:User|Group):(.+)$/i.exec(path);
  return (m?.[1] ?? path).toLowerCase();
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * Compiles a parsed filter to a SQL boolean over the schema's columns, appending its values to
 * `params` (placeholders continue from params.length). Unknown attributes are an invalidFilter.
 */
export function filterToSql(node: FilterNode, schema: FilterSchema, params: unknown[]): string {
  const lookup = (path: string, cols: Record<string, FilterColumn>): FilterColumn => {
    const key = normalisePath(path);
    const col = Object.entries(cols).find(([k]) => k.toLowerCase() === key)?.[1];
    if (!col) throw new InvalidFilter(`filtering on ${path} is not supported`);
    return col;
  };
  function compile(n: FilterNode, cols: Record<string, FilterColumn>): string {
    switch (n.kind) {
      case 'and':
      case 'or':
        return `(${compile(n.left, cols)} ${n.kind.toUpperCase()} ${compile(n.right, cols)})`;
      case 'not':
        return `(NOT coalesce(${compile(n.expr, cols)}, false))`;
      case 'pr': {
        const col = lookup(n.path, cols);
        return col.type === 'text'
          ? `(${col.sql} IS NOT NULL AND ${col.sql} <> '')`
          : `(${col.sql} IS NOT NULL)`;
      }
      case 'any': {
        const coll = Object.entries(schema.collections ?? {}).find(
          ([k]) => k.toLowerCase() === normalisePath(n.path),
        )?.[1];
        if (!coll) throw new InvalidFilter(`filtering on ${n.path}[…] is not supported`);
        return coll.exists(compile(n.expr, coll.columns));
      }
      case 'cmp':
        return compare(n, cols);
    }
  }
  function compare(
    n: Extract<FilterNode, { kind: 'cmp' }>,
    cols: Record<string, FilterColumn>,
  ): string {
    // `emails.value eq …`, `members.value eq …`: a sub-attribute of a collection.
    const dot = n.path.lastIndexOf('.');
    const parent = dot > 0 ? normalisePath(n.path.slice(0, dot)) : undefined;
    const coll = Object.entries(schema.collections ?? {}).find(
      ([k]) => k.toLowerCase() === parent,
    )?.[1];
    if (coll && !Object.keys(cols).some((k) => k.toLowerCase() === normalisePath(n.path)))
      return coll.exists(compare({ ...n, path: n.path.slice(dot + 1) }, coll.columns));
    const col = lookup(n.path, cols);
    if (n.value === null)
      return n.op === 'ne' ? `(${col.sql} IS NOT NULL)` : `(${col.sql} IS NULL)`;
    if (col.type === 'bool') {
      const v = typeof n.value === 'boolean' ? n.value : String(n.value).toLowerCase() === 'true';
      if (n.op !== 'eq' && n.op !== 'ne') throw new InvalidFilter(`${n.op} on a boolean`);
      params.push(v);
      return `(${col.sql} ${n.op === 'eq' ? '=' : 'IS DISTINCT FROM'} $${params.length})`;
    }
    const fold = col.type === 'text' && !col.caseExact;
    const lhs = fold ? `lower(${col.sql})` : col.sql;
    const raw = String(n.value);
    const value = fold ? raw.toLowerCase() : raw;
    const cast = col.type === 'timestamptz' ? '::timestamptz' : '::text';
    if (n.op === 'co' || n.op === 'sw' || n.op === 'ew') {
      const esc = escapeLike(value);
      params.push(n.op === 'co' ? `%${esc}%` : n.op === 'sw' ? `${esc}%` : `%${esc}`);
      return `(${lhs} LIKE $${params.length})`;
    }
    params.push(value);
    const sqlOp = { eq: '=', ne: 'IS DISTINCT FROM', gt: '>', ge: '>=', lt: '<', le: '<=' }[n.op];
    return `(${lhs} ${sqlOp} $${params.length}${cast})`;
  }
  return compile(node, schema.columns);
}
