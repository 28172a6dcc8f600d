import { describe, expect, it } from 'vitest';
import { InvalidFilter, filterToSql, parseFilter } from './scim-filter.js';
import { GROUP_FILTER, USER_FILTER } from './scim-store.js';

function sql(filter: string, schema = USER_FILTER): { where: string; params: unknown[] } {
  const params: unknown[] = [];
  return { where: filterToSql(parseFilter(filter), schema, params), params };
}

describe('SCIM filters', () => {
  it('compiles the filters Okta and Entra ID send', () => {
    expect(sql('userName eq "Ann@Example.com"')).toEqual({
      where: '(lower(u.email) = $1::text)',
      params: ['ann@example.com'],
    });
    expect(sql('externalId eq "00uABC"')).toEqual({
      where: '(m.scim_external_id = $1::text)',
      params: ['00uABC'],
    });
    expect(sql('emails.value eq "a@b.c"').params).toEqual(['a@b.c']);
    expect(sql('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x@y.z"').params).toEqual([
      'x@y.z',
    ]);
    expect(sql('active eq true and (displayName co "an" or name.givenName sw "A")')).toEqual({
      where:
        "((m.active = $1) AND ((lower(m.display_name) LIKE $2) OR (lower(m.scim_name->>'givenName') LIKE $3)))",
      params: [true, '%an%', 'a%'],
    });
    expect(sql('not (externalId pr)').where).toBe(
      "(NOT coalesce((m.scim_external_id IS NOT NULL AND m.scim_external_id <> ''), false))",
    );
  });

  it('escapes LIKE patterns and reads value paths on groups', () => {
    expect(sql('userName sw "a_b%"').params).toEqual(['a\\_b\\%%']);
    const g = sql('displayName eq "Legal" and members[value eq "u-1"]', GROUP_FILTER);
    expect(g.where).toContain('EXISTS (SELECT 1 FROM group_members gm');
    expect(g.params).toEqual(['legal', 'u-1']);
    expect(sql('members.value eq "u-2"', GROUP_FILTER).where).toContain('gm.user_id::text = $1');
  });

  it('refuses what it cannot read as invalidFilter', () => {
    for (const bad of [
      'userName zz "x"',
      'userName eq',
      'password eq "x"',
      '(userName eq "x"',
      'userName eq "x" extra',
      'active gt true',
    ])
      expect(() => sql(bad), bad).toThrow(InvalidFilter);
  });
});
