import type { SseEvent } from '../../invoke/sse.js';
import { isRecord, num, type StreamTranslator, type Usage } from '../types.js';
import { anthropicUsage, finishReason, openAIUsageBody } from './response.js';

/**
 * Translates an Anthropic Messages event stream (message_start, content_block_*, message_delta,
 * message_stop) into OpenAI chat.completion.chunk payloads.
 */
export class AnthropicStream implements StreamTranslator {
  usage: Usage | undefined;
  error: string | undefined;
  #id = `chatcmpl-${crypto.randomUUID()}`;
  #model: unknown = undefined;
  readonly #created = Math.floor(Date.now() / 1000);
  /** Anthropic content-block index → OpenAI tool_calls index. */
  readonly #toolIndex = new Map<number, number>();
  #finish: string | null = null;

  constructor(private readonly includeUsage: boolean) {}

  #chunk(delta: Record<string, unknown>, finish: string | null = null): string {
    return JSON.stringify({
      id: this.#id,
      object: 'chat.completion.chunk',
      created: this.#created,
      model: this.#model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    });
  }

  push(event: SseEvent): string[] {
    let ev: unknown;
    try {
      ev = JSON.parse(event.data);
    } catch {
      return [];
    }
    if (!isRecord(ev)) return [];
    switch (ev.type) {
      case 'message_start': {
        const msg = isRecord(ev.message) ? ev.message : {};
        if (typeof msg.id === 'string') this.#id = msg.id;
        this.#model = msg.model;
        this.usage = anthropicUsage(msg.usage);
        return [this.#chunk({ role: 'assistant', content: '' })];
      }
      case 'content_block_start': {
        const block = isRecord(ev.content_block) ? ev.content_block : {};
        if (block.type !== 'tool_use') return [];
        const index = this.#toolIndex.size;
        this.#toolIndex.set(num(ev.index), index);
        return [
          this.#chunk({
            tool_calls: [
              {
                index,
                id: block.id,
                type: 'function',
                function: { name: block.name, arguments: '' },
              },
            ],
          }),
        ];
      }
      case 'content_block_delta': {
        const delta = isRecord(ev.delta) ? ev.delta : {};
        if (delta.type === 'text_delta' && typeof delta.text === 'string')
          return [this.#chunk({ content: delta.text })];
        if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string') {
          const index = this.#toolIndex.get(num(ev.index));
          if (index === undefined) return [];
          return [
            this.#chunk({ tool_calls: [{ index, function: { arguments: delta.partial_json } }] }),
          ];
        }
        return [];
      }
      case 'message_delta': {
        const delta = isRecord(ev.delta) ? ev.delta : {};
        // message_delta carries the final output count; input counts came with message_start.
        if (isRecord(ev.usage)) {
          const prev = this.usage ?? { promptTokens: 0, completionTokens: 0, cachedTokens: 0 };
          const later = anthropicUsage(ev.usage) as Usage;
          this.usage = {
            promptTokens: 'input_tokens' in ev.usage ? later.promptTokens : prev.promptTokens,
            completionTokens: later.completionTokens,
            cachedTokens:
              'cache_read_input_tokens' in ev.usage ? later.cachedTokens : prev.cachedTokens,
          };
        }
        this.#finish = finishReason(delta.stop_reason);
        return [this.#chunk({}, this.#finish ?? 'stop')];
      }
      case 'error': {
        const err = isRecord(ev.error) ? ev.error : {};
        this.error = typeof err.message === 'string' ? err.message : 'upstream stream error';
        return [
          JSON.stringify({
            error: {
              message: this.error,
              type: typeof err.type === 'string' ? err.type : 'api_error',
            },
          }),
        ];
      }
      default:
        return []; // ping, content_block_stop, message_stop
    }
  }

  end(): string[] {
    if (!this.includeUsage || !this.usage) return [];
    return [
      JSON.stringify({
        id: this.#id,
        object: 'chat.completion.chunk',
        created: this.#created,
        model: this.#model,
        choices: [],
        usage: openAIUsageBody(this.usage),
      }),
    ];
  }
}
