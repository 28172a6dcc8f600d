/**
 * The project's own quality gate (`npm run eval:self-gate`, run by .ci/run): builds Rampart on a
 * fresh in-memory embedded database, ingests the fixture PDFs and the SciFact slice in
 * evals/self-gate/ through the real API and worker, runs the golden set there against the
 * built-in extractive pipeline (no model needed), and gates it with the committed thresholds
 * (evals/self-gate/gate.json) and baseline (evals/self-gate/baseline.json).
 *
 *   npx tsx scripts/eval-self-gate.ts [--out result.json] [--junit junit.xml] [--write-baseline]
 *
 * Exit codes are `rampart eval run`'s: 0 passed, 1 failed, 2 usage. --write-baseline replaces
 * the baseline with this run (after a deliberate change; review the diff).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { evalRun, injectClient, type Io } from '../src/evals/index.js';
import { createWorker } from '../src/jobs.js';
import { openEmbedded } from '../src/platform/db/open.js';
import { createLogger } from '../src/platform/telemetry/logger.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIR = join(root, 'evals', 'self-gate');
export const SELF_GATE = {
  dataset: join(DIR, 'extractive.jsonl'),
  baseline: join(DIR, 'baseline.json'),
  gate: join(DIR, 'gate.json'),
};

/** The fixture PDFs of the golden set and the titles its cases name them by. */
const PDFS: Record<string, string> = {
  'federal-register-2020-17221.pdf':
    'Federal Register 2020-17221: Boeing 737 MAX airworthiness directive',
  'nics-background-checks-2015-11.pdf': 'NICS firearm background checks, November 2015',
  'scotus-transcript-p1.pdf': 'Supreme Court transcript: Knowles v. Mirzayance',
};

const Gate = z.object({
  failUnder: z.object({ score: z.number().optional(), passRate: z.number().optional() }),
});
const ScifactDoc = z.object({ _id: z.string(), title: z.string(), text: z.string() });

function multipart(
  title: string,
  name: string,
  data: Buffer,
): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----rampart${randomBytes(8).toString('hex')}`;
  const payload = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\n${title}\r\n`,
    ),
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/pdf\r\n\r\n`,
    ),
    data,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

/** Runs the self-gate; returns its exit code. */
export async function selfGate(opts: {
  out?: string;
  junit?: string;
  writeBaseline?: boolean;
  io: Io;
}): Promise<number> {
  const rootToken = randomBytes(24).toString('hex');
  const config = loadConfig({
    RAMPART_ROOT_TOKEN: rootToken,
    RAMPART_SECRET_KEY: randomBytes(24).toString('hex'),
    LOG_LEVEL: 'warn',
  });
  const logger = createLogger({ level: 'warn', secretValues: config.secretValues });
  const { db } = await openEmbedded(undefined);
  const built = await buildApp({
    config,
    db,
    logger,
    serverSecret: config.RAMPART_SECRET_KEY ?? '',
  });
  try {
    const { app } = built;
    await app.ready();
    const created = await app.inject({
      method: 'POST',
      url: '/admin/v1/tenants',
      headers: { authorization: `Bearer ${rootToken}` },
      payload: { slug: 'self-gate', name: 'Self-gate' },
    });
    const key = z.object({ apiKey: z.string() }).parse(created.json()).apiKey;
    const headers = { authorization: `Bearer ${key}` };
    const upload = async (req: {
      payload: Buffer | object;
      headers?: Record<string, string>;
    }): Promise<void> => {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/documents',
        payload: req.payload,
        headers: { ...headers, ...req.headers },
      });
      if (res.statusCode !== 202) throw new Error(`upload failed: ${res.statusCode} ${res.body}`);
    };
    for (const [file, title] of Object.entries(PDFS))
      await upload(
        multipart(title, file, readFileSync(join(root, 'test', 'fixtures', 'pdfs', file))),
      );
    for (const line of readFileSync(join(DIR, 'scifact-corpus.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)) {
      const d = ScifactDoc.parse(JSON.parse(line));
      await upload({ payload: { title: d.title, text: `${d.title}\n\n${d.text}` } });
    }
    const outcomes = await createWorker(db, config, logger, built.gateway.calls).drain();
    const failed = outcomes.filter((o) => o.state !== 'completed');
    if (failed.length > 0) throw new Error(`${failed.length} documents failed to ingest`);
    const gate = Gate.parse(JSON.parse(readFileSync(SELF_GATE.gate, 'utf8')));
    const failUnder = Object.entries(gate.failUnder).map(([k, v]) => `${k}=${v}`);
    const client = injectClient((o) => app.inject(o), headers);
    const out = opts.writeBaseline ? SELF_GATE.baseline : opts.out;
    return await evalRun(
      client,
      {
        dataset: SELF_GATE.dataset,
        // PGlite has one connection: one case at a time keeps the run's order (and timings) plain.
        concurrency: 1,
        failUnder,
        ...(opts.writeBaseline ? {} : { baseline: SELF_GATE.baseline }),
        ...(out ? { out } : {}),
        ...(opts.junit ? { junit: opts.junit } : {}),
      },
      opts.io,
    );
  } finally {
    await built.app.close();
    await db.close();
  }
}

const isMain =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (isMain) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      junit: { type: 'string' },
      'write-baseline': { type: 'boolean' },
    },
  });
  const code = await selfGate({
    ...(values.out ? { out: values.out } : {}),
    ...(values.junit ? { junit: values.junit } : {}),
    writeBaseline: values['write-baseline'] ?? false,
    io: { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) },
  });
  writeFileSync(1, '');
  process.exit(code);
}
