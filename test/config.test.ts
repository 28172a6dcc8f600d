import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'rampart-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('loadConfig accepted the environment');
}

describe('loadConfig', () => {
  it('defaults make an empty environment valid', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      HOST: '0.0.0.0',
      PORT: 8080,
      RAMPART_DATA_DIR: './.rampart',
      HTTP_BODY_LIMIT: 1_048_576,
      TRUST_PROXY: false,
      LOG_LEVEL: 'info',
    });
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.secretValues).toEqual([]);
  });

  it('parses typed values', () => {
    const c = loadConfig({ PORT: '9000', TRUST_PROXY: 'yes', SHUTDOWN_TIMEOUT_MS: '2500' });
    expect(c.PORT).toBe(9000);
    expect(c.TRUST_PROXY).toBe(true);
    expect(c.SHUTDOWN_TIMEOUT_MS).toBe(2500);
  });

  it('names every invalid setting and the value it got', () => {
    const err = configError({ PORT: 'abc', LOG_LEVEL: 'loud', DATABASE_URL: 'not a url' });
    expect(err.problems).toHaveLength(3);
    expect(err.message).toMatch(/PORT: .*"abc"/);
    expect(err.message).toMatch(/LOG_LEVEL: .*"loud"/);
    expect(err.message).toMatch(/DATABASE_URL: /);
  });

  it('rejects out-of-range numbers', () => {
    expect(configError({ PORT: '70000' }).problems[0]).toMatch(/^PORT: /);
    expect(configError({ HTTP_BODY_LIMIT: '10' }).problems[0]).toMatch(/^HTTP_BODY_LIMIT: /);
  });

  it('reads a secret from NAME_FILE (trimmed) and records it for scrubbing', () => {
    const token = 'file-root-token-0123456789abcdef';
    const path = join(dir, 'root-token');
    writeFileSync(path, `${token}\n`);
    const c = loadConfig({ RAMPART_ROOT_TOKEN_FILE: path });
    expect(c.RAMPART_ROOT_TOKEN).toBe(token);
    expect(c.secretValues).toContain(token);
  });

  it('NAME and NAME_FILE both set is an error naming the setting', () => {
    const path = join(dir, 'both');
    writeFileSync(path, 'another-root-token-0123456789abcdef');
    const err = configError({
      RAMPART_ROOT_TOKEN: 'direct-root-token-0123456789abcdef',
      RAMPART_ROOT_TOKEN_FILE: path,
    });
    expect(err.problems).toEqual([
      expect.stringMatching(/^RAMPART_ROOT_TOKEN: set either RAMPART_ROOT_TOKEN or .*_FILE/),
    ]);
    expect(err.message).not.toContain('direct-root-token');
    expect(err.message).not.toContain('another-root-token');
  });

  it('an unreadable NAME_FILE is an error naming it', () => {
    const err = configError({ METRICS_TOKEN_FILE: join(dir, 'missing') });
    expect(err.problems[0]).toMatch(/^METRICS_TOKEN_FILE: cannot read /);
  });

  it("a secret's value never appears in the error", () => {
    const short = 'tooShort#Secret';
    const url = 'postgres://app:hunter2-secret-pw@db:5432/x y';
    const path = join(dir, 'short-secret');
    writeFileSync(path, 'fileShortSecret');
    const err = configError({
      RAMPART_ROOT_TOKEN: short,
      DATABASE_URL: url,
      RAMPART_SECRET_KEY_FILE: path,
    });
    expect(err.message).toMatch(/RAMPART_ROOT_TOKEN: /);
    expect(err.message).toMatch(/RAMPART_SECRET_KEY: /);
    expect(err.message).not.toContain(short);
    expect(err.message).not.toContain('hunter2');
    expect(err.message).not.toContain('fileShortSecret');
  });

  it('RAMPART_WORKERS: a whole number or auto (one per available CPU), default 1', () => {
    const server = { DATABASE_URL: 'postgres://rampart@db.internal/rampart' };
    expect(loadConfig({}).RAMPART_WORKERS).toBe(1);
    expect(loadConfig({ ...server, RAMPART_WORKERS: '3' }).RAMPART_WORKERS).toBe(3);
    expect(loadConfig({ ...server, RAMPART_WORKERS: 'auto' }).RAMPART_WORKERS).toBe(
      availableParallelism(),
    );
    expect(configError({ ...server, RAMPART_WORKERS: 'many' }).problems).toEqual([
      'RAMPART_WORKERS: must be a whole number from 1 to 256, or auto (got "many")',
    ]);
    expect(configError({ ...server, RAMPART_WORKERS: '0' }).problems[0]).toMatch(
      /^RAMPART_WORKERS: .*"0"/,
    );
  });

  it('RAMPART_WORKERS above 1 needs DATABASE_URL: the embedded database takes one process', () => {
    expect(configError({ RAMPART_WORKERS: '2' }).problems).toEqual([
      'RAMPART_WORKERS: 2 worker processes need DATABASE_URL (the embedded database can be opened by one process only); set DATABASE_URL or RAMPART_WORKERS=1',
    ]);
    expect(loadConfig({ RAMPART_WORKERS: '1' }).RAMPART_WORKERS).toBe(1);
  });

  it('OUTBOUND_ALLOW_PRIVATE_ADDRESSES governs outbound addresses; the older gateway name still works', () => {
    expect(loadConfig({}).OUTBOUND_ALLOW_PRIVATE_ADDRESSES).toBe(false);
    expect(
      loadConfig({ OUTBOUND_ALLOW_PRIVATE_ADDRESSES: 'true' }).OUTBOUND_ALLOW_PRIVATE_ADDRESSES,
    ).toBe(true);
    expect(
      loadConfig({ GATEWAY_ALLOW_PRIVATE_UPSTREAMS: 'true' }).OUTBOUND_ALLOW_PRIVATE_ADDRESSES,
    ).toBe(true);
    expect(
      loadConfig({
        GATEWAY_ALLOW_PRIVATE_UPSTREAMS: 'true',
        OUTBOUND_ALLOW_PRIVATE_ADDRESSES: 'true',
      }).OUTBOUND_ALLOW_PRIVATE_ADDRESSES,
    ).toBe(true);
    expect(
      configError({
        GATEWAY_ALLOW_PRIVATE_UPSTREAMS: 'true',
        OUTBOUND_ALLOW_PRIVATE_ADDRESSES: 'false',
      }).problems,
    ).toEqual([
      'GATEWAY_ALLOW_PRIVATE_UPSTREAMS: the older name of OUTBOUND_ALLOW_PRIVATE_ADDRESSES, set to a different value; set only OUTBOUND_ALLOW_PRIVATE_ADDRESSES',
    ]);
  });

  it('non-secret settings do not accept _FILE', () => {
    const path = join(dir, 'port');
    writeFileSync(path, '1234');
    expect(loadConfig({ PORT_FILE: path }).PORT).toBe(8080);
  });
});
