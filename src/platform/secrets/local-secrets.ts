import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../config.js';

/**
 * Returns a configured secret, or in embedded mode one generated on first start and kept in the
 * data directory (mode 0600) so restarts keep the same value. With a server database every
 * replica must share the value, so it has to be configured.
 */
export function resolveLocalSecret(opts: {
  name: string;
  configured: string | undefined;
  embedded: boolean;
  dataDir: string;
  file: string;
  generate?: () => string;
}): string {
  if (opts.configured) return opts.configured;
  if (!opts.embedded)
    throw new ConfigError([
      `${opts.name}: required when DATABASE_URL is set (every replica must share it); set ${opts.name} or ${opts.name}_FILE`,
    ]);
  const path = join(opts.dataDir, opts.file);
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  mkdirSync(opts.dataDir, { recursive: true });
  const value = (opts.generate ?? (() => randomBytes(32).toString('base64url')))();
  writeFileSync(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return value;
}
