import { z } from 'zod';
import { safeString } from '../../platform/http/safe-string.js';

/** The OpenAI chat request: the fields the gateway reads are checked; the rest pass through. */
export const ChatCompletionBody = z.looseObject({
  model: safeString().min(1).max(200),
  messages: z.array(z.looseObject({ role: safeString().min(1) })).min(1),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
});
export const EmbeddingsBody = z.looseObject({
  model: safeString().min(1).max(200),
  input: z.union([safeString(), z.array(z.unknown()).min(1)]),
});
