import { ExtractionError, extractBlocks } from './index.js';
import { ExtractionRequest, type ExtractionReply } from './protocol.js';

/**
 * Entry of an extraction process (started by ExtractionPool through bin/ts-run.js): runs one
 * extraction per message and replies with the blocks, or with the reason the document cannot
 * be read. The process has its own capped heap, so a document that expands past it kills this
 * process, not the server.
 */
const send = process.send?.bind(process);
if (!send) throw new Error('child.ts runs only as a forked process with an IPC channel');

process.on('message', (message: unknown) => {
  void reply(message).then((r) => send(r));
});
// The pool closed the channel (or the server died): nothing more will come.
process.on('disconnect', () => process.exit(0));

async function reply(message: unknown): Promise<ExtractionReply> {
  try {
    const { type, bytes, limits } = ExtractionRequest.parse(message);
    return { ok: true, extracted: await extractBlocks(type, bytes, limits) };
  } catch (err) {
    if (err instanceof ExtractionError) return { ok: false, unreadable: true, reason: err.message };
    return {
      ok: false,
      unreadable: false,
      reason: err instanceof Error ? err.message : String(err),
    };
  }
}
