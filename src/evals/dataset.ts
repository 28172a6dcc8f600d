import { createHash } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { EvalCase } from './schemas.js';

/** A dataset as the runner sees it: named, hashed, its cases in order. */
export interface Dataset {
  name: string;
  version?: number | undefined;
  hash: string;
  cases: EvalCase[];
}

/** A dataset that cannot be used: unparsable, an invalid case, or a duplicated case id. */
export class DatasetInvalid extends Error {
  override readonly name = 'DatasetInvalid';
}

/** Stable digest of a list of cases: the same cases hash the same whatever the file format. */
export function datasetHash(cases: readonly EvalCase[]): string {
  return createHash('sha256').update(JSON.stringify(cases)).digest('hex');
}

/** Case ids that occur more than once. */
export function duplicateIds(cases: readonly { id: string }[]): string[] {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const c of cases) (seen.has(c.id) ? dup : seen).add(c.id);
  return [...dup];
}

function parseCases(raw: readonly unknown[], where: (i: number) => string): EvalCase[] {
  const cases = raw.map((item, i) => {
    const parsed = EvalCase.safeParse(item);
    if (!parsed.success)
      throw new DatasetInvalid(
        `${where(i)}: ${z.prettifyError(parsed.error).replace(/\n/gu, '; ')}`,
      );
    return parsed.data;
  });
  const dups = duplicateIds(cases);
  if (dups.length > 0) throw new DatasetInvalid(`duplicated case ids: ${dups.join(', ')}`);
  if (cases.length === 0) throw new DatasetInvalid('the dataset has no cases');
  return cases;
}

/**
 * Parses a dataset file: JSONL (one case per line; blank lines and `//` comments skipped) or
 * YAML (a list of cases, or `{ name?, cases: [...] }`). `fileName` picks the format and names
 * the dataset when the file does not.
 */
export function parseDatasetFile(fileName: string, content: string): Dataset {
  const base = fileName.replace(/^.*[\\/]/u, '').replace(/\.(jsonl|ya?ml|json)$/u, '');
  let name = base;
  let raw: unknown[];
  if (/\.jsonl$/u.test(fileName)) {
    raw = [];
    const lines = content.split('\n');
    const lineOf: number[] = [];
    lines.forEach((line, n) => {
      const t = line.trim();
      if (t === '' || t.startsWith('//')) return;
      try {
        raw.push(JSON.parse(t));
        lineOf.push(n + 1);
      } catch (err) {
        throw new DatasetInvalid(`${fileName}:${n + 1}: not JSON (${(err as Error).message})`);
      }
    });
    return finish(
      name,
      parseCases(raw, (i) => `${fileName}:${lineOf[i] ?? '?'}`),
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(content);
  } catch (err) {
    throw new DatasetInvalid(`${fileName}: not YAML/JSON (${(err as Error).message})`);
  }
  if (Array.isArray(doc)) raw = doc;
  else {
    const shape = z
      .object({ name: z.string().optional(), cases: z.array(z.unknown()) })
      .safeParse(doc);
    if (!shape.success)
      throw new DatasetInvalid(`${fileName}: expected a list of cases or { name, cases }`);
    raw = shape.data.cases;
    name = shape.data.name ?? base;
  }
  return finish(
    name,
    parseCases(raw, (i) => `${fileName}: case ${i + 1}`),
  );
}

function finish(name: string, cases: EvalCase[]): Dataset {
  return { name, hash: datasetHash(cases), cases };
}

/** Validates cases given in an API body (duplicates refused as in files). */
export function datasetFromCases(name: string, raw: readonly unknown[], version?: number): Dataset {
  const cases = parseCases(raw, (i) => `case ${i + 1}`);
  return { name, version, hash: datasetHash(cases), cases };
}
