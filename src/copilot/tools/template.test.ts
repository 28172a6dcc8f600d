import { describe, expect, it } from 'vitest';
import { fillBody, fillUrl } from './template.js';

describe('action templates', () => {
  it('percent-encodes URL values so an argument cannot change the path or query', () => {
    expect(fillUrl('https://x.test/orders/{orderId}', { orderId: '../admin?x=1' })).toBe(
      'https://x.test/orders/..%2Fadmin%3Fx%3D1',
    );
  });
  it('keeps JSON types for whole placeholders and reaches into the result', () => {
    expect(
      fillBody(
        { id: '{result.id}', qty: '{qty}', note: 'order {result.id} x{qty}', missing: '{nope}' },
        { qty: 3, result: { id: 'o-1' } },
      ),
    ).toEqual({ id: 'o-1', qty: 3, note: 'order o-1 x3', missing: null });
  });
});
