import pino, { type Logger, type DestinationStream } from 'pino';

// API keys issued by Rampart, and bearer tokens in free text, are masked wherever they appear.
const KEY_PATTERN = /\brmp_[A-Za-z0-9_-]{16,}/g;
const BEARER_PATTERN = /(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi;

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
    return out.replace(KEY_PATTERN, 'rmp_[REDACTED]').replace(BEARER_PATTERN, '$1[REDACTED]');
  };
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
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: scrub },
    },
    opts.destination ?? pino.destination({ sync: false }),
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

export type { Logger };
