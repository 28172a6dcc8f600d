import { describe, expect, it } from 'vitest';
import { ScimInvalid, groupChangeOf, userChangeOf } from './scim-patch.js';

describe('SCIM PATCH', () => {
  it('reads Entra ID user operations (capitalised ops, "False" strings, paths)', () => {
    expect(
      userChangeOf([
        { op: 'Replace', path: 'active', value: 'False' },
        { op: 'Add', path: 'name.givenName', value: 'Ann' },
        { op: 'Replace', path: 'displayName', value: 'Ann B' },
        { op: 'Add', path: 'title', value: 'ignored' },
        { op: 'Remove', path: 'externalId' },
      ]),
    ).toEqual({
      active: false,
      name: { givenName: 'Ann' },
      displayName: 'Ann B',
      externalId: null,
    });
  });

  it('reads Okta user operations (no path, an object value)', () => {
    expect(
      userChangeOf([{ op: 'replace', value: { active: true, name: { familyName: 'B' } } }]),
    ).toEqual({ active: true, name: { familyName: 'B' } });
    expect(userChangeOf([{ op: 'replace', value: { 'name.givenName': 'C' } }])).toEqual({
      name: { givenName: 'C' },
    });
  });

  it('reads group member operations of both', () => {
    expect(
      groupChangeOf([
        { op: 'Add', path: 'members', value: [{ value: 'u1' }, { value: 'u2' }] },
        { op: 'Remove', path: 'members[value eq "u3"]' },
        { op: 'Remove', path: 'members', value: [{ value: 'u4' }] },
        { op: 'Replace', path: 'displayName', value: 'Legal' },
      ]),
    ).toEqual({ add: ['u1', 'u2'], remove: ['u3', 'u4'], displayName: 'Legal' });
    expect(groupChangeOf([{ op: 'replace', value: { id: 'g', displayName: 'New' } }])).toEqual({
      add: [],
      remove: [],
      displayName: 'New',
    });
    expect(groupChangeOf([{ op: 'replace', path: 'members', value: [{ value: 'u9' }] }])).toEqual({
      add: [],
      remove: [],
      replaceMembers: ['u9'],
    });
  });

  it('refuses what it cannot apply', () => {
    expect(() => userChangeOf([{ op: 'move', path: 'active', value: true }])).toThrow(ScimInvalid);
    expect(() => userChangeOf([{ op: 'replace', path: 'active', value: 'maybe' }])).toThrow(
      ScimInvalid,
    );
    expect(() => userChangeOf([{ op: 'replace', value: 'x' }])).toThrow(ScimInvalid);
    expect(() => groupChangeOf([{ op: 'add', path: 'members[value eq "u"]' }])).toThrow(
      ScimInvalid,
    );
  });
});
