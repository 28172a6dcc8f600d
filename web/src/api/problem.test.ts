import { describe, expect, it } from 'vitest';
import { ApiError, must, problemOf } from './problem';

describe('problemOf', () => {
  it('reads problem+json detail and code, OpenAI-style errors, and anything else', () => {
    expect(problemOf(403, { detail: 'Needs keys:manage.', code: 'forbidden' })).toMatchObject({
      status: 403,
      code: 'forbidden',
      message: 'Needs keys:manage.',
    });
    expect(
      problemOf(429, { error: { message: 'Slow down.', code: 'rate_limited' } }),
    ).toMatchObject({
      code: 'rate_limited',
      message: 'Slow down.',
    });
    expect(problemOf(502, 'gateway down').message).toBe('The server answered 502.');
  });

  it('must() returns data and throws the problem as an ApiError', async () => {
    const ok = new Response('{}', { status: 200 });
    await expect(must(Promise.resolve({ data: { a: 1 }, response: ok }))).resolves.toEqual({
      a: 1,
    });
    const no = new Response('{}', { status: 404 });
    await expect(
      must(
        Promise.resolve({
          error: { detail: 'Document not found.', code: 'not_found' },
          response: no,
        }),
      ),
    ).rejects.toBeInstanceOf(ApiError);
  });
});
