import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { RampartClient } from './client.js';
import type { CheckResult } from './schemas.js';

/** The judges and the version of the prompt each uses (files in ./prompts, versioned by name). */
export const JUDGE_PROMPTS = {
  rubric: 'rubric.v1',
  faithfulness: 'faithfulness.v1',
  relevance: 'relevance.v1',
} as const;
export type JudgeKind = keyof typeof JUDGE_PROMPTS;

const prompts = new Map<string, string>();
/** A judge's system prompt, read once from its versioned file. */
export function judgePrompt(kind: JudgeKind): string {
  const name = JUDGE_PROMPTS[kind];
  let text = prompts.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(`./prompts/${name}.md`, import.meta.url), 'utf8');
    prompts.set(name, text);
  }
  return text;
}

/** A judge that could not give a verdict (HTTP error, malformed JSON): an evaluator error. */
export class JudgeFailed extends Error {
  override readonly name = 'JudgeFailed';
}

export const Verdict = z
  .object({ score: z.number().min(0).max(1), pass: z.boolean(), reason: z.string() })
  .strict();
export type Verdict = z.infer<typeof Verdict>;

const Completion = z.object({
  choices: z.array(z.object({ message: z.object({ content: z.string().nullable() }) })).min(1),
});

/**
 * Reads a verdict from the model's reply: one JSON object (a ```json fence around it is
 * tolerated). Anything else — prose, a missing field, a score outside 0..1 — is an error,
 * never a pass.
 */
export function parseVerdict(content: string): Verdict {
  const fenced = /^\s*```(?:json)?\s*([\s\S]*?)\s*```\s*$/u.exec(content);
  const text = (fenced?.[1] ?? content).trim();
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new JudgeFailed(
      `the judge did not answer JSON: ${JSON.stringify(content.slice(0, 120))}`,
    );
  }
  const v = Verdict.safeParse(doc);
  if (!v.success)
    throw new JudgeFailed(
      `malformed verdict ${JSON.stringify(content.slice(0, 120))}: ${v.error.issues[0]?.message ?? ''}`,
    );
  return v.data;
}

/** Judges through the gateway: a tenant alias, routed, limited and metered like any chat call. */
export class Judge {
  constructor(
    private readonly client: RampartClient,
    private readonly model: string,
    private readonly repeats = 1,
  ) {}

  private async once(kind: JudgeKind, user: string, repeat: number): Promise<Verdict> {
    const res = await this.client(
      'POST',
      '/v1/chat/completions',
      {
        model: this.model,
        temperature: 0,
        messages: [
          { role: 'system', content: judgePrompt(kind) },
          { role: 'user', content: user },
        ],
      },
      `judge:${repeat}`,
    );
    if (res.status < 200 || res.status >= 300)
      throw new JudgeFailed(
        `the judge model answered ${res.status}: ${JSON.stringify(res.body).slice(0, 200)}`,
      );
    const body = Completion.safeParse(res.body);
    const content = body.success ? body.data.choices[0]?.message.content : undefined;
    if (typeof content !== 'string') throw new JudgeFailed('the judge model answered no text');
    return parseVerdict(content);
  }

  /**
   * Runs the judge `repeats` times; the majority of pass votes decides (a tie fails), the score
   * is the mean. One malformed verdict makes the check an error.
   */
  async judge(kind: JudgeKind, user: string, passMark?: number): Promise<CheckResult> {
    const name = `judge:${kind}`;
    let verdicts: Verdict[];
    try {
      verdicts = [];
      for (let i = 0; i < this.repeats; i++) verdicts.push(await this.once(kind, user, i));
    } catch (err) {
      if (err instanceof JudgeFailed) return { name, pass: false, score: 0, error: err.message };
      throw err;
    }
    const score = verdicts.reduce((s, v) => s + v.score, 0) / verdicts.length;
    const votes = verdicts.map((v) => (passMark !== undefined ? v.score >= passMark : v.pass));
    const yes = votes.filter(Boolean).length;
    const pass = yes * 2 > votes.length;
    const reason = verdicts.find((_, i) => votes[i] === pass)?.reason ?? '';
    return {
      name,
      pass,
      score,
      detail: `${JUDGE_PROMPTS[kind]}, ${yes}/${votes.length} pass votes: ${reason.slice(0, 300)}`,
    };
  }
}

/** The user message of each judge: the material, labelled as data. */
export const judgeInputs = {
  rubric: (rubric: string, question: string, output: string): string =>
    `RUBRIC:\n${rubric}\n\nQUESTION:\n${question}\n\nOUTPUT:\n${output}`,
  faithfulness: (context: readonly string[], answer: string): string =>
    `CONTEXT:\n${context.map((c, i) => `[${i + 1}] ${c}`).join('\n')}\n\nANSWER:\n${answer}`,
  relevance: (question: string, answer: string): string =>
    `QUESTION:\n${question}\n\nANSWER:\n${answer}`,
};
