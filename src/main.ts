// The `rampart` command line. Only the argument parser and the settings load up front: each
// command imports what it runs when it is chosen, so `--help` or a configuration error answers
// without loading the server.
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, loadConfig, type Config } from './config.js';
import type { EvalReplayCli, EvalRunCli } from './cli/eval.js';

function config(): Config {
  return loadConfig();
}

/**
 * Wraps a command: a configuration problem found at any point of start-up (parsing, or a
 * setting another one requires) is one clear line on stderr and exit code 2, not a stack trace.
 */
function command<A extends unknown[]>(
  action: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args) => {
    try {
      await action(...args);
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`rampart: ${err.message}\n`);
        process.exit(2);
      }
      // An unreachable database or Redis is an operational fact, not a bug: one line, exit 1.
      const code = (err as { code?: unknown }).code;
      if (err instanceof Error && typeof code === 'string' && !code.startsWith('ERR_')) {
        process.stderr.write(`rampart: cannot start: ${err.message} (${code})\n`);
        process.exit(1);
      }
      throw err;
    }
  };
}

const program = new Command('rampart')
  .description('Rampart: multi-tenant AI platform')
  .showHelpAfterError();
program
  .command('serve')
  .description('run the HTTP API (migrates the embedded database)')
  .action(
    command(async () => {
      const cfg = config();
      await (await import('./cli/serve.js')).serve(cfg);
    }),
  );
program
  .command('worker')
  .description('run background jobs')
  .action(
    command(async () => {
      const cfg = config();
      await (await import('./cli/worker.js')).worker(cfg);
    }),
  );
program
  .command('migrate')
  .description('apply pending database migrations')
  .action(
    command(async () => {
      const cfg = config();
      await (await import('./cli/migrate.js')).runMigrate(cfg);
    }),
  );
const audit = program.command('audit').description('audit log tools');
audit
  .command('verify')
  .description(
    "recompute a tenant's audit hash chain; exit 0 intact, 1 broken or truncated, 2 unknown tenant or usage error, 3 could not verify",
  )
  .option('--tenant <slug>', 'tenant slug (or --all)')
  .option('--all', "every tenant's chain (PostgreSQL; needs DATABASE_ADMIN_URL)")
  .option(
    '--expect-head <[seq:]hash>',
    'a chain head published earlier (the "audit chain head" log line); fails if the chain no longer contains it',
  )
  .action(
    command(async (opts: { tenant?: string; expectHead?: string; all?: boolean }) =>
      (await import('./cli/audit-verify.js')).auditVerify(opts, config),
    ),
  );
audit
  .command('reconstruct')
  .description(
    'print what produced an answer (question, chunks, prompt, model, answer, tokens, cost); exit 0 cited content unchanged, 1 a cited chunk changed or was deleted since, 2 unknown tenant or request, 3 could not run',
  )
  .option('--tenant <slug>', 'tenant slug')
  .option('--request <id>', "the answer's x-request-id, or run:<run id> for a copilot run")
  .option('--json', 'print the record as GET /v1/requests/:requestId returns it')
  .action(
    command(async (opts: { tenant?: string; request?: string; json?: boolean }) =>
      (await import('./cli/audit-reconstruct.js')).auditReconstruct(opts, config),
    ),
  );
program
  .command('backup')
  .description(
    'pg_dump the PostgreSQL database (as DATABASE_ADMIN_URL) with a manifest of migrations, row counts and audit chain heads',
  )
  .option(
    '--output <file>',
    'dump file to write (custom format); the manifest is <file>.manifest.json',
  )
  .action(
    command(async (opts: { output?: string }) =>
      (await import('./cli/backup.js')).backup(opts, config),
    ),
  );
program
  .command('restore')
  .description(
    'pg_restore a backup into an empty database; --verify then checks migrations, row counts and every audit chain against its manifest (exit 0 verified, 1 failed, 2 usage)',
  )
  .option('--input <file>', 'dump written by rampart backup')
  .option('--verify', 'after restoring, verify the database against the manifest')
  .option('--verify-only', 'verify an already restored database against the manifest')
  .action(
    command(async (opts: { input?: string; verify?: boolean; verifyOnly?: boolean }) =>
      (await import('./cli/backup.js')).restore(opts, config),
    ),
  );

const evals = program.command('eval').description('evals: golden sets, the quality gate');
const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer');
  return n;
};
evals
  .command('run')
  .description(
    'run a golden set and gate it: exit 0 passed, 1 a threshold missed, a baseline-passing case fails, a case missing or duplicated, or an evaluator errored; 2 usage error',
  )
  .requiredOption('--dataset <file|id>', 'a JSONL or YAML file, or a stored dataset id or name')
  .option(
    '--target-url <url>',
    'a running Rampart (default: in-process on the configured database)',
  )
  .option('--key <key>', 'the API key the cases run as')
  .option('--concurrency <n>', 'cases at a time', positiveInt, 4)
  .option('--repeats <n>', 'runs per case (majority decides)', positiveInt, 1)
  .option('--baseline <result.json>', 'an earlier result: a case that passed there must pass')
  .option('--fail-under <metric=value>', 'score=0.8 or passRate=0.9 (repeatable)', collect)
  .option('--out <result.json>', 'write the result')
  .option('--junit <junit.xml>', 'write JUnit XML')
  .option('--judge-model <alias>', 'tenant model alias for the model-graded checks')
  .option('--judge-repeats <n>', 'judge votes per check (majority decides)', positiveInt, 1)
  .option('--cache <dir>', 'cache responses by request hash: a re-run is reproducible')
  .action(
    command(async (opts: EvalRunCli) => (await import('./cli/eval.js')).evalRunCli(opts, config)),
  );
evals
  .command('replay')
  .description(
    'replay a recorded copilot run: exact (same decisions and output? exit 1 when it diverged), parametric (another --model or --instructions, recorded tool outputs, scored), stress (N replays at once, throughput); no tool is ever called',
  )
  .requiredOption('--run <id>', 'the recorded run')
  .requiredOption('--mode <mode>', 'exact | parametric | stress')
  .option(
    '--target-url <url>',
    'a running Rampart (default: in-process on the configured database)',
  )
  .option('--key <key>', 'the API key the replay runs as (it must see the run)')
  .option('--model <alias>', 'parametric/stress: the model alias to replay with')
  .option('--instructions <text>', "parametric/stress: the agent's instructions to replay with")
  .option('--expect <json>', 'parametric: the expectations to score (default: the recorded tools)')
  .option('--judge-model <alias>', 'parametric: tenant model alias for model-graded expectations')
  .option('--episodes <n>', 'stress: replays in all', positiveInt, 20)
  .option('--concurrency <n>', 'stress: replays at once', positiveInt, 8)
  .action(
    command(async (opts: EvalReplayCli) =>
      (await import('./cli/eval.js')).evalReplayCli(opts, config),
    ),
  );
evals
  .command('compare')
  .description('per-case differences of two results; exit 1 when a case regressed or vanished')
  .argument('<a.json>')
  .argument('<b.json>')
  .action(
    command(async (a: string, b: string) => (await import('./cli/eval.js')).evalCompareCli(a, b)),
  );
const tokens = program.command('tokens').description('access-token tools');
tokens
  .command('rotate-key')
  .description(
    'make a new access-token signing key, which signs from now on; the old ones stay in /.well-known/jwks.json until the tokens they signed expire',
  )
  .action(command(async () => (await import('./cli/tokens.js')).rotateKey(config)));

const billing = program
  .command('billing')
  .description('usage rollups and billing export (docs/billing.md)');
billing
  .command('reconcile')
  .description(
    'compare the daily usage rollups with the usage ledger, group by group; exit 0 equal, 1 a group differs, 2 usage error or unknown tenant, 3 could not run',
  )
  .option('--tenant <slug>', 'one tenant (default: every tenant with usage)')
  .option('--from <YYYY-MM-DD>', 'first UTC day (inclusive)')
  .option('--to <YYYY-MM-DD>', 'UTC day after the last (exclusive)')
  .action(
    command(async (opts: { tenant?: string; from?: string; to?: string }) => {
      const b = await import('./cli/billing.js');
      await b.billingCli(config, (io) => b.reconcile(io, opts));
    }),
  );
billing
  .command('export')
  .description(
    'write a month of usage as Stripe meter events (JSON lines) or CSV, the same identifiers every time; exit 0 written, 1 values changed since an earlier export or rows still in flight, 2 usage error (period not over, unknown tenant, no Stripe customer), 3 could not run',
  )
  .requiredOption('--period <YYYY-MM>', 'the month (UTC)')
  .option('--tenant <slug>', 'one tenant (default: every tenant with usage)')
  .option('--format <stripe|csv>', 'stripe (meter events) or csv', 'stripe')
  .requiredOption('--out <file>', 'file to write')
  .action(
    command(async (opts: { period: string; tenant?: string; format: string; out: string }) => {
      const b = await import('./cli/billing.js');
      await b.billingCli(config, (io) => b.exportUsage(io, opts));
    }),
  );
billing
  .command('customer')
  .description(
    "set the Stripe customer a tenant's meter events name (audited); exit 0 set, 2 usage error",
  )
  .requiredOption('--tenant <slug>', 'the tenant')
  .requiredOption('--stripe-customer <cus_…>', 'the Stripe customer id')
  .action(
    command(async (opts: { tenant: string; stripeCustomer: string }) => {
      const b = await import('./cli/billing.js');
      await b.billingCli(config, (io) => b.setCustomer(io, opts));
    }),
  );

await program.parseAsync(process.argv);
