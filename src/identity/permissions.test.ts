import { describe, expect, it } from 'vitest';
import {
  PERMISSIONS,
  ROLES,
  ROLE_PERMISSIONS,
  isRole,
  mayGrant,
  rolesUpTo,
} from './permissions.js';

describe('permissions', () => {
  it('ranks roles owner > admin > member > viewer for granting', () => {
    const order = ['viewer', 'member', 'admin', 'owner'] as const;
    for (const [i, granter] of order.entries()) {
      for (const [j, granted] of order.entries()) {
        expect(mayGrant(granter, granted), `${granter} grants ${granted}`).toBe(j <= i);
      }
    }
  });

  it('rolesUpTo lists a role and everything below it', () => {
    expect(rolesUpTo('owner').sort()).toEqual([...ROLES].sort());
    expect(rolesUpTo('admin').sort()).toEqual(['admin', 'member', 'viewer']);
    expect(rolesUpTo('member').sort()).toEqual(['member', 'viewer']);
    expect(rolesUpTo('viewer')).toEqual(['viewer']);
  });

  it('each role holds every permission of the roles below it, all from the catalog', () => {
    const catalog = new Set<string>(PERMISSIONS);
    for (const role of ROLES) {
      for (const p of ROLE_PERMISSIONS[role]) expect(catalog.has(p), `${role}: ${p}`).toBe(true);
      for (const lower of rolesUpTo(role)) {
        for (const p of ROLE_PERMISSIONS[lower]) {
          expect(ROLE_PERMISSIONS[role].has(p), `${role} has ${lower}'s ${p}`).toBe(true);
        }
      }
    }
  });

  it('keeps management and audit out of member and viewer hands', () => {
    for (const role of ['member', 'viewer'] as const) {
      for (const p of [
        'keys:manage',
        'users:manage',
        'groups:manage',
        'knowledge:manage',
        'audit:read',
      ] as const) {
        expect(ROLE_PERMISSIONS[role].has(p), `${role} ${p}`).toBe(false);
      }
    }
    expect(ROLE_PERMISSIONS.viewer.has('documents:write')).toBe(false);
    expect(ROLE_PERMISSIONS.member.has('gateway:invoke')).toBe(true);
    expect(ROLE_PERMISSIONS.admin.has('keys:manage')).toBe(true);
  });

  it('gives documents:manage to owner and admin only, and to every holder of groups:manage', () => {
    expect(ROLES.filter((r) => ROLE_PERMISSIONS[r].has('documents:manage')).sort()).toEqual([
      'admin',
      'owner',
    ]);
    // Deleting a group rewrites the documents filed under it, which RLS lets only document
    // managers update: a role that manages groups must also manage documents.
    for (const role of ROLES) {
      if (ROLE_PERMISSIONS[role].has('groups:manage'))
        expect(ROLE_PERMISSIONS[role].has('documents:manage'), role).toBe(true);
    }
  });

  it('gives knowledge:manage (the knowledge-hub settings) to owner and admin only', () => {
    expect(ROLES.filter((r) => ROLE_PERMISSIONS[r].has('knowledge:manage')).sort()).toEqual([
      'admin',
      'owner',
    ]);
  });

  it('isRole accepts exactly the four roles', () => {
    for (const r of ROLES) expect(isRole(r)).toBe(true);
    for (const r of ['Owner', 'root', '', 'superuser']) expect(isRole(r)).toBe(false);
  });
});
