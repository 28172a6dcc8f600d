import { describe, expect, it } from 'vitest';
import { MODEL_NAME, nameMap } from './names.js';

describe('tool name mapping', () => {
  it('maps registry names to provider-safe names and back, without collisions', () => {
    const names = ['knowledge.search', 'knowledge_search', 'crm.create-order', 'x'.repeat(64)];
    const m = nameMap(names);
    const given = names.map((n) => m.toModel(n) ?? '');
    expect(new Set(given).size).toBe(names.length);
    for (const [i, g] of given.entries()) {
      expect(g).toMatch(MODEL_NAME);
      expect(m.toRegistry(g)).toBe(names[i]);
    }
    expect(m.toModel('knowledge.search')).toBe('knowledge_search');
    expect(m.toModel('knowledge_search')).toBe('knowledge_search_2');
    expect(m.toRegistry('unknown')).toBeUndefined();
  });
});
