import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LineBatcher, type BlockSink } from './line-batcher.js';

function sink(): BlockSink & { blocks: string[]; syncs: number } {
  return {
    blocks: [],
    syncs: 0,
    write(block: string) {
      this.blocks.push(block);
    },
    flushSync() {
      this.syncs++;
    },
  };
}

describe('LineBatcher', () => {
  it('hands lines to the sink in blocks once minLength is reached, in order', () => {
    const s = sink();
    const b = new LineBatcher(s, { minLength: 12, flushMs: 10_000 });
    b.write('one\n');
    b.write('two\n');
    expect(s.blocks).toEqual([]);
    b.write('three\n');
    expect(s.blocks).toEqual(['one\ntwo\nthree\n']);
    b.write('four\n');
    b.flushSync();
    expect(s.blocks).toEqual(['one\ntwo\nthree\n', 'four\n']);
    expect(s.syncs).toBe(1);
  });

  it('writes a short block once flushMs has passed', async () => {
    const s = sink();
    const b = new LineBatcher(s, { minLength: 4096, flushMs: 20 });
    b.write('lonely\n');
    expect(s.blocks).toEqual([]);
    await new Promise((r) => setTimeout(r, 80));
    expect(s.blocks).toEqual(['lonely\n']);
  });

  it('loses no line when the process exits right after logging', () => {
    // A real logger on stdout, then process.exit() in the same turn: every line must arrive.
    const logger = resolve(import.meta.dirname, 'logger.ts');
    const code = `
      const { createLogger } = await import(${JSON.stringify(logger)});
      const log = createLogger({ level: 'info', secretValues: [] });
      for (let i = 0; i < 3000; i++) log.info({ i }, 'line');
      process.exit(0);
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const seen = r.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { i: number }).i);
    expect(seen).toEqual(Array.from({ length: 3000 }, (_, i) => i));
  });
});
