import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  GENESIS_HASH,
  canonicalJson,
  canonicalTime,
  hashEvent,
  storableJson,
  storableText,
  type ChainedFields,
} from './chain.js';

/** Rebuilds a JSON value with every object's keys inserted in reverse order (same value, other layout). */
function reorderKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reorderKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value).reverse()) {
      Object.defineProperty(out, k, { value: reorderKeys(v), enumerable: true, writable: true });
    }
    return out;
  }
  return value;
}

/**
 * Reads JSON text and returns each object's keys in the order the text writes them (JSON.parse
 * cannot tell: JS objects put integer-like keys first).
 */
function keyOrders(text: string): string[][] {
  const orders: string[][] = [];
  let i = 0;
  const str = (): string => {
    const start = i;
    i += 1;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i += 1;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): void => {
    const c = text[i];
    if (c === '{') {
      const keys: string[] = [];
      orders.push(keys);
      i += 1;
      while (text[i] !== '}') {
        if (text[i] === ',') i += 1;
        keys.push(str());
        i += 1; // ':'
        value();
      }
      i += 1;
    } else if (c === '[') {
      i += 1;
      while (text[i] !== ']') {
        if (text[i] === ',') i += 1;
        value();
      }
      i += 1;
    } else if (c === '"') {
      str();
    } else {
      while (i < text.length && !',]}'.includes(text[i] as string)) i += 1;
    }
  };
  value();
  return orders;
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const event: ChainedFields = {
  tenantId: '2b8f7c1e-4a8e-4f3e-9a55-0f0c2b1d9e11',
  seq: 7,
  occurredAt: '2026-11-23T11:19:21.123000Z',
  actorType: 'api_key',
  actorId: 'a1b2c3d4-0000-4000-8000-000000000001',
  action: 'api_key.created',
  targetType: 'api_key',
  targetId: 'a1b2c3d4-0000-4000-8000-000000000002',
  outcome: 'success',
  ip: '203.0.113.9',
  requestId: 'req-12345678',
  details: { role: 'member', name: 'ci', groups: ['legal', 'hr'] },
  prevHash: 'f'.repeat(64),
};

// JSON values as they come back from JSON.parse: no undefined, no -0 distinction, finite numbers.
const jsonValue = fc.jsonValue({ maxDepth: 4 });

describe('canonicalJson', () => {
  it('sorts keys at every depth and adds no whitespace', () => {
    const text = canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } });
    expect(text).toBe('{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}');
    expect(keyOrders(text)).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['y', 'z'],
    ]);
    // Integer-like keys are sorted as strings too ("10" < "9").
    expect(canonicalJson({ 9: 'a', 10: 'b', x: 'c' })).toBe('{"10":"b","9":"a","x":"c"}');
  });

  it('keeps array order (arrays are ordered data) and drops undefined members like JSON does', () => {
    expect(canonicalJson([3, 1, 2])).toBe('[3,1,2]');
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson([undefined])).toBe('[null]');
    expect(canonicalJson([-0, 1e21, 0.1])).toBe(JSON.stringify([-0, 1e21, 0.1]));
  });

  it('sorts by code unit, not locale, so the order never depends on the machine', () => {
    expect(canonicalJson({ b: 1, B: 2, é: 3, a: 4 })).toBe('{"B":2,"a":4,"b":1,"é":3}');
  });

  it('keeps a "__proto__" key as data', () => {
    const v = JSON.parse('{"__proto__":{"x":1},"a":2}') as unknown;
    expect(canonicalJson(v)).toBe('{"__proto__":{"x":1},"a":2}');
  });

  it('is valid JSON for the same value, with keys sorted at every depth (property)', () => {
    fc.assert(
      fc.property(jsonValue, (v) => {
        const text = canonicalJson(v);
        const parsed = JSON.parse(text) as unknown;
        // The same value JSON itself gives (which, like JSON, writes -0 as 0).
        expect(parsed).toEqual(JSON.parse(JSON.stringify(v)));
        for (const keys of keyOrders(text)) expect(keys).toEqual([...keys].sort(byCodeUnit));
      }),
    );
  });

  it('does not depend on key insertion order and is a fixed point (property)', () => {
    fc.assert(
      fc.property(jsonValue, (v) => {
        const text = canonicalJson(v);
        expect(canonicalJson(reorderKeys(v))).toBe(text);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
    );
  });
});

describe('hashEvent', () => {
  it('is a stable SHA-256 hex digest', () => {
    const h = hashEvent(event);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(hashEvent({ ...event })).toBe(h);
    expect(hashEvent({ ...event, details: reorderKeys(event.details) })).toBe(h);
  });

  it('changes when any single field changes (property)', () => {
    const keys = Object.keys(event) as (keyof ChainedFields)[];
    const base = hashEvent(event);
    // Any other value for any one field: strings, numbers, null, JSON.
    const change = fc.record({
      field: fc.constantFrom(...keys),
      value: fc.oneof(fc.string(), fc.integer(), fc.constant(null), jsonValue),
    });
    fc.assert(
      fc.property(change, ({ field, value }) => {
        fc.pre(canonicalJson(value) !== canonicalJson(event[field]));
        expect(hashEvent({ ...event, [field]: value } as ChainedFields)).not.toBe(base);
      }),
      { numRuns: 500 },
    );
  });

  it('changes for every field, including a move between adjacent fields', () => {
    const seen = new Set([hashEvent(event)]);
    for (const key of Object.keys(event) as (keyof ChainedFields)[]) {
      const v = event[key];
      const changed = typeof v === 'number' ? v + 1 : typeof v === 'string' ? `${v}x` : { x: 1 };
      seen.add(hashEvent({ ...event, [key]: changed }));
    }
    expect(seen.size).toBe(Object.keys(event).length + 1);
    // The same text split differently between two fields must not collide.
    expect(hashEvent({ ...event, targetType: 'api', targetId: '_keyX' })).not.toBe(
      hashEvent({ ...event, targetType: 'api_', targetId: 'keyX' }),
    );
  });

  it('chains: the genesis hash is 64 zeros and a different prev hash gives a different hash', () => {
    expect(GENESIS_HASH).toBe('0'.repeat(64));
    expect(hashEvent({ ...event, prevHash: GENESIS_HASH })).not.toBe(hashEvent(event));
  });
});

describe('canonicalTime', () => {
  it('renders UTC with six fractional digits', () => {
    expect(canonicalTime(new Date('2026-01-02T03:04:05.678+02:00'))).toBe(
      '2026-01-02T01:04:05.678000Z',
    );
  });
});

describe('storableText / storableJson', () => {
  it('replaces NUL and lone surrogates, keeps valid pairs', () => {
    expect(storableText('a\u0000b')).toBe('a\ufffdb');
    expect(storableText('x\ud800y')).toBe('x\ufffdy');
    expect(storableText('x\udc00')).toBe('x\ufffd');
    expect(storableText('😀')).toBe('😀');
  });

  it('makes keys and nested strings storable', () => {
    expect(storableJson({ 'k\u0000': ['v\ud83d', { n: 1 }] })).toEqual({
      'k\ufffd': ['v\ufffd', { n: 1 }],
    });
  });
});
