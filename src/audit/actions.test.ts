import { describe, expect, it } from 'vitest';
import { AUDIT_ACTIONS, LEGACY_ACTIONS, canonicalAction, storedNamesFor } from './actions.js';

// `<noun>.<past participle>`: a snake_case noun, then a snake_case phrase ending in a past
// participle (created, role_changed, set, forbidden …).
const CANONICAL = /^[a-z]+(?:_[a-z]+)*\.(?:[a-z]+_)*(?:[a-z]+ed|set|forbidden)$/;

describe('audit action names', () => {
  it.each(AUDIT_ACTIONS)('%s is <noun>.<past participle>', (action) => {
    expect(action).toMatch(CANONICAL);
  });

  it('maps every legacy name to a canonical action and none is still written', () => {
    for (const [old, now] of Object.entries(LEGACY_ACTIONS)) {
      expect(old).not.toMatch(CANONICAL);
      expect(AUDIT_ACTIONS).toContain(now);
      expect(AUDIT_ACTIONS).not.toContain(old);
    }
  });

  it('reads a legacy name as its canonical one, and filters by either to both', () => {
    expect(canonicalAction('document.create')).toBe('document.created');
    expect(canonicalAction('group.deleted')).toBe('group.deleted');
    expect(canonicalAction('toString')).toBe('toString');
    expect(storedNamesFor('document.created')).toEqual(['document.created', 'document.create']);
    expect(storedNamesFor('document.create')).toEqual(['document.created', 'document.create']);
    expect(storedNamesFor('group.deleted')).toEqual(['group.deleted']);
  });
});
