import { countTokens } from 'gpt-tokenizer';

/** Entries of one generation of the cache, and the characters they may hold in all. */
const GENERATION_ENTRIES = 4096;
const GENERATION_CHARS = 8_000_000;

/**
 * Offline prompt-token counts for admission (TPM limits and budget reservations), cached per
 * tenant and per part of the request. A chat request is counted message by message, plus its
 * tool schemas: an application sends the same system prompt and tools with every request, and
 * a conversation resends its earlier turns, so most of a prompt has been counted before, and
 * BPE over a long text costs tens of microseconds. The count of a chat input is the sum of
 * its parts' JSON plus one token per message for the framing between them; any other input
 * (embeddings) is counted as one JSON text.
 *
 * Keys carry the tenant id, so how fast a count comes back says nothing about another
 * tenant's prompts. Two generations bound the memory: when the current one is full it
 * becomes the previous one, and a hit there moves the entry back into the current one.
 */
export class PromptTokenCounter {
  #current = new Map<string, number>();
  #previous = new Map<string, number>();
  #chars = 0;

  /** Tokens of a request's admission input: `{ messages, tools }` for chat, else any JSON value. */
  count(tenantId: string, input: unknown): number {
    if (isChatInput(input)) {
      let n = input.messages.length;
      for (const m of input.messages) n += this.#text(tenantId, JSON.stringify(m) ?? '');
      if (input.tools !== undefined) n += this.#text(tenantId, JSON.stringify(input.tools) ?? '');
      return n;
    }
    return this.#text(tenantId, JSON.stringify(input ?? '') ?? '');
  }

  #text(tenantId: string, text: string): number {
    if (text.length === 0) return 0;
    const key = `${tenantId}\u0000${text}`;
    const hit = this.#current.get(key);
    if (hit !== undefined) return hit;
    const old = this.#previous.get(key);
    const n = old ?? countTokens(text);
    this.#remember(key, n);
    return n;
  }

  #remember(key: string, n: number): void {
    if (key.length > GENERATION_CHARS) return;
    if (this.#current.size >= GENERATION_ENTRIES || this.#chars + key.length > GENERATION_CHARS) {
      this.#previous = this.#current;
      this.#current = new Map();
      this.#chars = 0;
    }
    this.#current.set(key, n);
    this.#chars += key.length;
  }
}

function isChatInput(input: unknown): input is { messages: unknown[]; tools?: unknown } {
  return (
    typeof input === 'object' &&
    input !== null &&
    Array.isArray((input as { messages?: unknown }).messages)
  );
}
