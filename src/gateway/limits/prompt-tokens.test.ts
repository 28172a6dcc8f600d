import { countTokens } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { PromptTokenCounter } from './prompt-tokens.js';

const system = { role: 'system', content: 'You are a careful assistant. '.repeat(20) };
const user = { role: 'user', content: 'What does row-level security do?' };
const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }];
const tokens = (v: unknown) => countTokens(JSON.stringify(v));

describe('PromptTokenCounter', () => {
  it('counts a chat input as its messages and tools, one framing token per message', () => {
    const counter = new PromptTokenCounter();
    expect(counter.count('t1', { messages: [system, user] })).toBe(
      tokens(system) + tokens(user) + 2,
    );
    expect(counter.count('t1', { messages: [system, user], tools })).toBe(
      tokens(system) + tokens(user) + 2 + tokens(tools),
    );
    expect(counter.count('t1', { messages: [] })).toBe(0);
  });

  it('counts any other input (embeddings) as one JSON text', () => {
    const counter = new PromptTokenCounter();
    expect(counter.count('t1', ['first text', 'second'])).toBe(tokens(['first text', 'second']));
    expect(counter.count('t1', undefined)).toBe(tokens(''));
  });

  it('answers from its cache with the counts a fresh counter gives, for each tenant and in any order', () => {
    const counter = new PromptTokenCounter();
    const other = { role: 'user', content: 'And column-level grants?' };
    const fresh = new PromptTokenCounter();
    for (let i = 0; i < 3; i++) {
      for (const tenant of ['t1', 't2']) {
        expect(counter.count(tenant, { messages: [system, user] })).toBe(
          fresh.count(`fresh-${i}-${tenant}`, { messages: [system, user] }),
        );
        expect(counter.count(tenant, { messages: [system, other], tools })).toBe(
          tokens(system) + tokens(other) + 2 + tokens(tools),
        );
      }
    }
  });

  it('stays exact past the size of one cache generation', () => {
    const counter = new PromptTokenCounter();
    for (let i = 0; i < 10_000; i++) {
      const m = { role: 'user', content: `question number ${i}` };
      expect(counter.count('t1', { messages: [system, m] })).toBe(tokens(system) + tokens(m) + 2);
    }
  });
});
