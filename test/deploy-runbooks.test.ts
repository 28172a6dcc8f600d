// docs/runbooks/: every runbook names the alerts that lead to it, every alert names a runbook
// that mentions it, and the commands they give exist: each `rampart …` command and its flags
// (asked of the real CLI), and each Kubernetes object a `kubectl` line names.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { REPO_ROOT } from './helpers/serve-process.js';

const DIR = resolve(REPO_ROOT, 'docs/runbooks');
const runbooks = readdirSync(DIR)
  .filter((f) => f.endsWith('.md'))
  .map((f) => ({ file: f, text: readFileSync(resolve(DIR, f), 'utf8') }));
const alerts = z
  .object({
    groups: z.array(
      z.object({
        rules: z.array(
          z.object({
            alert: z.string().optional(),
            annotations: z.record(z.string(), z.string()).optional(),
          }),
        ),
      }),
    ),
  })
  .parse(parse(readFileSync(resolve(REPO_ROOT, 'deploy/prometheus/rules.yaml'), 'utf8')))
  .groups.flatMap((g) => g.rules)
  .filter((r) => r.alert);
const alertNames = new Set(alerts.map((a) => a.alert));

describe('docs/runbooks', () => {
  it('cover the failures issue #30 lists', () => {
    expect(runbooks.map((r) => r.file).sort()).toEqual([
      'README.md',
      'answer-quality.md',
      'copilot-compensation-failed.md',
      'cross-tenant-access.md',
      'identity-provider-unreachable.md',
      'incident-checklist.md',
      'postgres-failover-and-restore.md',
      'provider-outage.md',
      'redis-loss.md',
      'rotate-keys.md',
      'stuck-ingestion-queue.md',
      'traffic-spike.md',
    ]);
  });

  it('each names the alerts that lead to it, and those alerts exist', () => {
    for (const { file, text } of runbooks.filter((r) => r.file !== 'README.md')) {
      const line = /^\*\*Alerts:\*\* (.*)$/m.exec(text)?.[1];
      expect(line, file).toBeDefined();
      for (const [name] of (line ?? '').matchAll(/Rampart[A-Z]\w+/g))
        expect(alertNames, `${file}: ${name}`).toContain(name);
    }
    for (const [name] of runbooks.flatMap((r) => [...r.text.matchAll(/`(Rampart[A-Z]\w+)`/g)]))
      expect(alertNames, name).toContain(name.replaceAll('`', ''));
  });

  it("every alert's runbook names it", () => {
    for (const a of alerts) {
      const file = (a.annotations?.runbook ?? '').replace('docs/runbooks/', '');
      const text = runbooks.find((r) => r.file === file)?.text ?? '';
      expect(text, `${a.alert} → ${file}`).toContain(`\`${a.alert}\``);
    }
  });

  it('every `rampart …` command they give exists with the flags used', () => {
    const commands = new Set<string>();
    for (const { text } of runbooks)
      for (const m of text.matchAll(
        /(?:^|[\s`(])(?<!-n\s)rampart ((?:[a-z]+ ?)+)((?:\s*(?:--[a-z-]+)(?: [A-Z:_.]+)?)*)/gm,
      ))
        commands.add(`${(m[1] ?? '').trim()}|${m[2] ?? ''}`);
    expect(commands.size).toBeGreaterThan(3);
    const checked = new Set<string>();
    for (const entry of commands) {
      const [words = '', flags = ''] = entry.split('|');
      // Prose after a command ("rampart audit verify exits 0") is not part of it: keep the
      // longest prefix the CLI knows.
      const parts = words.split(' ');
      let help = '';
      let known = '';
      for (let n = parts.length; n > 0 && !help; n -= 1) {
        const cmd = parts.slice(0, n);
        try {
          help = execFileSync(process.execPath, ['bin/rampart.js', ...cmd, '--help'], {
            cwd: REPO_ROOT,
            encoding: 'utf8',
            env: { PATH: process.env.PATH ?? '' },
          });
          known = cmd.join(' ');
          if (!new RegExp(`^Usage: rampart ${known}\\b`, 'm').test(help)) help = '';
        } catch {
          help = '';
        }
      }
      expect(help, `rampart ${words}`).not.toBe('');
      for (const [flag] of flags.matchAll(/--[a-z-]+/g))
        expect(help, `rampart ${known} ${flag}`).toContain(flag);
      checked.add(known);
    }
    for (const c of ['backup', 'restore', 'audit verify', 'migrate']) expect(checked).toContain(c);
  });

  it('the Kubernetes objects kubectl lines name exist in deploy/k8s', () => {
    const manifests = readdirSync(resolve(REPO_ROOT, 'deploy/k8s/base'))
      .map((f) => readFileSync(resolve(REPO_ROOT, 'deploy/k8s/base', f), 'utf8'))
      .join('\n');
    const names = new Set(
      [...manifests.matchAll(/^ {2}name: (rampart[\w-]*)$/gm)].map((m) => m[1]),
    );
    for (const { file, text } of runbooks)
      for (const m of text.matchAll(
        /\b(?:deploy|hpa|scaledobject|job|secret)\/(rampart[\w-]*)|\b(?:hpa|scaledobject|job) (rampart[\w-]*)/g,
      ))
        expect(names, `${file}: ${m[0]}`).toContain(m[1] ?? m[2]);
  });
});
