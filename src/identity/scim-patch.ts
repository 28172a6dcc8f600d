import { AppError } from '../platform/http/errors.js';
import { parseFilter, type FilterNode } from './scim-filter.js';

/** One PATCH operation as Okta and Entra ID send it (`op` in any case, `path` optional). */
export interface PatchOperation {
  op: string;
  path?: string | undefined;
  value?: unknown;
}

/** 400 in SCIM's error shape with its scimType (RFC 7644 §3.12). */
export class ScimInvalid extends AppError {
  constructor(
    detail: string,
    scimType: 'invalidValue' | 'invalidPath' | 'noTarget' | 'mutability' = 'invalidValue',
  ) {
    super(400, scimType, detail);
  }
}

/** What a PATCH does to a user; attributes Rampart does not keep are accepted and ignored. */
export interface UserChange {
  active?: boolean;
  userName?: string;
  displayName?: string;
  externalId?: string | null;
  name?: Record<string, string | null>;
}

/** What a PATCH does to a group. */
export interface GroupChange {
  displayName?: string;
  externalId?: string | null;
  add: string[];
  remove: string[];
  /** Replace the whole member list. */
  replaceMembers?: string[];
}

const NAME_PARTS = [
  'formatted',
  'familyName',
  'givenName',
  'middleName',
  'honorificPrefix',
  'honorificSuffix',
];

function opName(op: PatchOperation): 'add' | 'replace' | 'remove' {
  const name = op.op.toLowerCase();
  if (name === 'add' || name === 'replace' || name === 'remove') return name;
  throw new ScimInvalid(`Unknown PATCH op ${op.op}.`, 'invalidValue');
}

/** Entra ID sends booleans as the strings "True" / "False". */
export function scimBoolean(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|false)$/i.test(value))
    return value.toLowerCase() === 'true';
  throw new ScimInvalid(`Expected a boolean, got ${JSON.stringify(value)}.`);
}

function scimString(value: unknown, what: string): string {
  if (typeof value === 'string') return value;
  throw new ScimInvalid(`${what} must be a string.`);
}

function stripSchema(path: string): string {
  return path.replace(/^urn:ietf:params:scim:schemas:core:2\.0:(?:User|Group):/i, '');
}

/** A no-path operation's value object as (path, value) pairs; Entra ID may dot the keys. */
function entries(value: unknown): [string, unknown][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ScimInvalid('An operation without a path needs an object value.', 'invalidPath');
  const out: [string, unknown][] = [];
  for (const [k, v] of Object.entries(value)) {
    if (k === 'name' && v !== null && typeof v === 'object' && !Array.isArray(v))
      for (const [part, pv] of Object.entries(v)) out.push([`name.${part}`, pv]);
    else out.push([k, v]);
  }
  return out;
}

type Setter = (path: string, value: unknown, op: 'add' | 'replace' | 'remove') => void;

/** Calls `set` for each attribute the operations touch (a path-less op: each key of its value). */
function applyOperations(ops: readonly PatchOperation[], set: Setter): void {
  for (const op of ops) {
    const name = opName(op);
    if (op.path === undefined || op.path === '') {
      for (const [k, v] of entries(op.value)) set(k, v, name);
    } else set(op.path, op.value, name);
  }
}

/** Applies PATCH operations to a user, as a change to write. */
export function userChangeOf(ops: readonly PatchOperation[]): UserChange {
  const change: UserChange = {};
  const set: Setter = (rawPath, value, op) => {
    const path = stripSchema(rawPath);
    const key = path.toLowerCase();
    if (key === 'active') {
      if (op === 'remove') throw new ScimInvalid('active cannot be removed.', 'mutability');
      change.active = scimBoolean(value);
    } else if (key === 'username') {
      if (op === 'remove') throw new ScimInvalid('userName cannot be removed.', 'mutability');
      change.userName = scimString(value, 'userName');
    } else if (key === 'displayname') {
      change.displayName = op === 'remove' ? '' : scimString(value, 'displayName');
    } else if (key === 'externalid') {
      change.externalId = op === 'remove' ? null : scimString(value, 'externalId');
    } else if (key === 'name') {
      if (op === 'remove') change.name = Object.fromEntries(NAME_PARTS.map((p) => [p, null]));
      else for (const [k, v] of entries({ name: value })) set(k, v, op);
    } else if (key.startsWith('name.')) {
      const part = NAME_PARTS.find((p) => p.toLowerCase() === key.slice(5));
      if (part)
        change.name = {
          ...change.name,
          [part]: op === 'remove' || value === null ? null : scimString(value, path),
        };
    }
    // Anything else (emails, title, the enterprise extension…) is accepted and not kept.
  };
  applyOperations(ops, set);
  return change;
}

function memberIds(value: unknown): string[] {
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return list.map((m: unknown) => {
    if (m !== null && typeof m === 'object' && 'value' in m && typeof m.value === 'string')
      return m.value;
    throw new ScimInvalid('Each member needs a string value (the user id).');
  });
}

/** `members[value eq "…"]` → the ids the filter names (eq on value, joined by or). */
function idsOfMemberFilter(node: FilterNode): string[] {
  if (node.kind === 'or')
    return [...idsOfMemberFilter(node.left), ...idsOfMemberFilter(node.right)];
  if (node.kind === 'cmp' && node.op === 'eq' && node.path.toLowerCase() === 'value')
    return [String(node.value)];
  throw new ScimInvalid('Only members[value eq "…"] selects members.', 'invalidPath');
}

/** Applies PATCH operations to a group, as a change to write. */
export function groupChangeOf(ops: readonly PatchOperation[]): GroupChange {
  const change: GroupChange = { add: [], remove: [] };
  const set: Setter = (rawPath, value, op) => {
    const path = stripSchema(rawPath);
    const key = path.toLowerCase();
    const filtered = /^members\[(.+)\]$/i.exec(path);
    if (filtered?.[1]) {
      if (op !== 'remove')
        throw new ScimInvalid(`${op} on ${path} is not supported.`, 'invalidPath');
      change.remove.push(...idsOfMemberFilter(parseFilter(filtered[1])));
    } else if (key === 'members') {
      if (op === 'add') change.add.push(...memberIds(value));
      else if (op === 'replace') {
        change.replaceMembers = memberIds(value);
        change.add = [];
        change.remove = [];
      } else if (value === undefined) change.replaceMembers = [];
      else change.remove.push(...memberIds(value));
    } else if (key === 'displayname') {
      if (op === 'remove') throw new ScimInvalid('displayName cannot be removed.', 'mutability');
      change.displayName = scimString(value, 'displayName');
    } else if (key === 'externalid') {
      change.externalId = op === 'remove' ? null : scimString(value, 'externalId');
    }
    // `id` (Okta repeats it in a no-path replace) and unknown attributes are ignored.
  };
  applyOperations(ops, set);
  return change;
}
