import pino, { type Logger, type DestinationStream } from 'pino';
import { LineBatcher } from './line-batcher.js';

// API keys issued by Rampart, and bearer tokens in free text, are masked wherever they appear.
const KEY_PATTERN = /\brmp_[A-Za-z0-9_-]{16,}/g;
const BEARER_PATTERN = /(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi;
// Cheap tests that rule a line out before the replacing patterns run (most lines hold neither).
const KEY_HINT = 'rmp_';
const BEARER_HINT = /bearer/i;

const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.apiKey',
  '*.api_key',
  '*.secret',
  '*.token',
  '*.authorization',
  'headers.authorization',
];

/** Replaces known secret values and key-shaped strings in one serialized log line. */
export function makeScrubber(secretValues: readonly string[]): (line: string) => string {
  // Longest first, so a secret that contains another is masked whole.
  // Each secret is matched raw and as it appears inside a JSON string (quotes, backslashes and
  // control characters escaped), since the scrubber sees serialized lines.
  const secrets = [
    ...new Set(
      secretValues.filter((s) => s.length >= 6).flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]),
    ),
  ].sort((a, b) => b.length - a.length);
  return (line) => {
    let out = line;
    for (const s of secrets) if (out.includes(s)) out = out.split(s).join('[REDACTED]');
    if (out.includes(KEY_HINT)) out = out.replace(KEY_PATTERN, 'rmp_[REDACTED]');
    if (BEARER_HINT.test(out)) out = out.replace(BEARER_PATTERN, '$1[REDACTED]');
    return out;
  };
}

let isoMs = -1;
let isoField = '';

/**
 * pino's isoTime (`,"time":"<ISO 8601>"`), formatted once per millisecond: at thousands of lines
 * a second, most lines share their millisecond with the one before.
 */
export function cachedIsoTime(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    isoField = `,"time":"${new Date(now).toISOString()}"`;
  }
  return isoField;
}

/** The structured JSON logger: redacts credential fields by path and scrubs secret values from every line. */
export function createLogger(opts: {
  level: string;
  secretValues: readonly string[];
  destination?: DestinationStream;
}): Logger {
  const scrub = makeScrubber(opts.secretValues);
  return pino(
    {
      level: opts.level,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      base: { service: 'rampart' },
      timestamp: cachedIsoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: scrub },
    },
    opts.destination ??
      // Lines go out in blocks of 4 KiB, or every 100 ms, whichever comes first (see LineBatcher).
      new LineBatcher(pino.destination({ sync: false }), { minLength: 4096, flushMs: 100 }),
  );
}

/**
 * A child for the one-line-per-request access log: the same destination, level and secret
 * scrubbing, but without the path redaction, whose wildcard paths cost more than the rest of the
 * line. Only for lines whose fields are fixed and never carry credentials (ids, route template,
 * status, duration).
 */
export function accessLogger(logger: Logger): Logger {
  return logger.child({}, { redact: { paths: [] } });
}

type Bindings = Record<string, unknown>;
type ChildOptions = Parameters<Logger['child']>[1];

/**
 * A request's logger (Fastify's `request.log`) that creates its pino child, with the request id
 * bound, only when the request first logs. Most requests never log through it (their one line
 * comes from the access log), and a pino child per request showed in CPU profiles.
 */
class LazyChildLogger {
  #child: Logger<string> | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Bindings,
    private readonly options: ChildOptions,
  ) {}

  #logger(): Logger<string> {
    return (this.#child ??= this.parent.child(this.bindings, this.options));
  }

  get level(): string {
    return this.#child?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.#logger().level = level;
  }

  isLevelEnabled(level: string): boolean {
    return (this.#child ?? this.parent).isLevelEnabled(level);
  }

  child(bindings: Bindings, options?: ChildOptions): Logger<string> {
    return this.#logger().child(bindings, options);
  }

  fatal(...args: Parameters<Logger['fatal']>): void {
    this.#logger().fatal(...args);
  }

  error(...args: Parameters<Logger['error']>): void {
    this.#logger().error(...args);
  }

  warn(...args: Parameters<Logger['warn']>): void {
    this.#logger().warn(...args);
  }

  info(...args: Parameters<Logger['info']>): void {
    this.#logger().info(...args);
  }

  debug(...args: Parameters<Logger['debug']>): void {
    this.#logger().debug(...args);
  }

  trace(...args: Parameters<Logger['trace']>): void {
    this.#logger().trace(...args);
  }

  silent(): void {}
}

/** Fastify's `childLoggerFactory`: request loggers whose pino child is made on first use. */
export function lazyRequestLogger(
  logger: Logger,
  bindings: Bindings,
  options: ChildOptions,
): Logger {
  // Library boundary: the lazy child implements every method a request logger is called with,
  // not pino's whole Logger type (streams, levels object, custom levels).
  // eslint-disable-next-line no-restricted-syntax
  return new LazyChildLogger(logger, bindings, options) as unknown as Logger;
}

export type { Logger };
