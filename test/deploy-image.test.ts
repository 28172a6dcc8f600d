// The image and the Compose file (deploy/Dockerfile, deploy/docker-entrypoint.sh,
// deploy/compose.yaml). CI machines have no registry, so the image is never built here: the
// Dockerfile is linted (test/helpers/dockerfile-lint.ts, hadolint's applicable rules), the
// Compose file is validated against the Compose specification's JSON schema, and the
// entrypoint script the image runs is run outside Docker against the embedded database.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { lintDockerfile, parseDockerfile } from './helpers/dockerfile-lint.js';
import { REPO_ROOT, spawnRampart, tempDataDir } from './helpers/serve-process.js';
import { ROOT_TOKEN } from './helpers/app.js';

vi.setConfig({ testTimeout: 120_000 });

const dockerfile = readFileSync(resolve(REPO_ROOT, 'deploy/Dockerfile'), 'utf8');
const ENTRYPOINT = 'deploy/docker-entrypoint.sh';

describe('deploy/Dockerfile', () => {
  const ins = parseDockerfile(dockerfile);
  const finalStage = Math.max(...ins.map((i) => i.stage));

  it('passes the lint rules (hadolint equivalents, test/helpers/dockerfile-lint.ts)', () => {
    expect(lintDockerfile(dockerfile)).toEqual([]);
  });

  it('the linter reports what hadolint would on a careless Dockerfile', () => {
    const bad = [
      'FROM node',
      'ADD . /app',
      'RUN cd /app && npm install && apt-get install curl | tee log',
      'CMD node bin/rampart.js serve',
    ].join('\n');
    const rules = lintDockerfile(bad).map((p) => /\[(\S+)\]/.exec(p)?.[1]);
    for (const rule of ['multi-stage', 'DL3006', 'DL3020', 'DL3003', 'DL3016', 'DL3014', 'DL3015'])
      expect(rules).toContain(rule);
    for (const rule of ['DL3009', 'DL4006', 'DL3025', 'DL3002', 'healthcheck', 'init', 'labels'])
      expect(rules).toContain(rule);
  });

  it('installs production dependencies only, with npm ci --omit=dev, into the image', () => {
    const runs = ins.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /npm ci --omit=dev/.test(r))).toBe(true);
    expect(
      runs.filter((r) => /npm (ci|install)\b/.test(r)).every((r) => /--omit=dev/.test(r)),
    ).toBe(true);
    // esbuild transforms the TypeScript sources at run time (bin/ts-hooks.js), so it must be a
    // production dependency, not a devDependency.
    const pkg = z
      .object({ dependencies: z.record(z.string(), z.string()) })
      .parse(JSON.parse(readFileSync(resolve(REPO_ROOT, 'package.json'), 'utf8')));
    expect(pkg.dependencies).toHaveProperty('esbuild');
  });

  it('warms the TypeScript cache at build time into RAMPART_CACHE_DIR, set in the runtime too', () => {
    const envs = ins.filter((i) => i.keyword === 'ENV');
    for (const stage of new Set(ins.map((i) => i.stage)).values()) {
      if (stage < 0) continue;
      expect(
        envs.some((e) => e.stage === stage && /RAMPART_CACHE_DIR=\/app\/\.cache/.test(e.args)),
        `stage ${stage}`,
      ).toBe(true);
    }
    expect(ins.some((i) => i.keyword === 'RUN' && /scripts\/postinstall\.js/.test(i.args))).toBe(
      true,
    );
  });

  it('builds the web console into the image (its build tools are production dependencies)', () => {
    expect(ins.some((i) => i.keyword === 'COPY' && /^web\s+\.\/web$/.test(i.args))).toBe(true);
    const build = ins.find((i) => i.keyword === 'RUN' && /scripts\/postinstall\.js/.test(i.args));
    // The postinstall swallows a failed console build (an install never fails on it); the image
    // build must not, so the RUN checks the built page itself.
    expect(build?.args).toMatch(/test -f web\/dist\/index\.html/);
    const pkg = z
      .object({ dependencies: z.record(z.string(), z.string()) })
      .parse(JSON.parse(readFileSync(resolve(REPO_ROOT, 'package.json'), 'utf8')));
    for (const dep of ['vite', '@vitejs/plugin-react', 'react', 'react-dom'])
      expect(pkg.dependencies, dep).toHaveProperty(dep);
    const ignore = readFileSync(resolve(REPO_ROOT, '.dockerignore'), 'utf8').split('\n');
    expect(ignore).toContain('web/dist');
  });

  it('runs as a non-root uid with the data directory on a volume, tini as PID 1 and a /healthz check', () => {
    const final = ins.filter((i) => i.stage === finalStage);
    expect(final.filter((i) => i.keyword === 'USER').at(-1)?.args).toBe('10001:10001');
    expect(final.find((i) => i.keyword === 'VOLUME')?.args).toContain('/var/lib/rampart');
    expect(final.find((i) => i.keyword === 'ENTRYPOINT')?.args).toBe(
      '["/usr/bin/tini", "--", "/app/deploy/docker-entrypoint.sh"]',
    );
    expect(final.find((i) => i.keyword === 'HEALTHCHECK')?.args).toContain(
      '"/app/deploy/docker-entrypoint.sh", "healthcheck"',
    );
    // The entrypoint's healthcheck probes /healthz by default.
    expect(readFileSync(resolve(REPO_ROOT, ENTRYPOINT), 'utf8')).toMatch(
      /RAMPART_HEALTHCHECK_URL:-http:\/\/127\.0\.0\.1:\$\{PORT:-8080\}\/healthz/,
    );
  });

  it('copies only files that exist, and .dockerignore keeps local state and secrets out', () => {
    for (const c of ins.filter((i) => i.keyword === 'COPY' && !i.args.includes('--from'))) {
      const parts = c.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const src of parts.slice(0, -1))
        expect(existsSync(resolve(REPO_ROOT, src)), `line ${c.line}: ${src}`).toBe(true);
    }
    const ignore = readFileSync(resolve(REPO_ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['.git', 'node_modules', '.rampart', 'deploy/compose/secrets', '.env'])
      expect(ignore).toContain(entry);
  });
});

// --- Compose ---------------------------------------------------------------------------------

const composeText = readFileSync(resolve(REPO_ROOT, 'deploy/compose.yaml'), 'utf8');
const compose: unknown = parse(composeText, { merge: true });
const Service = z.object({
  image: z.string().optional(),
  command: z.array(z.string()).optional(),
  restart: z.string().optional(),
  read_only: z.boolean().optional(),
  profiles: z.array(z.string()).optional(),
  environment: z.record(z.string(), z.string()).optional(),
  secrets: z.array(z.string()).optional(),
  depends_on: z
    .union([z.array(z.string()), z.record(z.string(), z.object({ condition: z.string() }))])
    .optional(),
  volumes: z.array(z.string()).optional(),
  cap_drop: z.array(z.string()).optional(),
});
const Compose = z.object({
  services: z.record(z.string(), Service),
  secrets: z.record(z.string(), z.object({ file: z.string() })),
});

describe('deploy/compose.yaml', () => {
  const file = Compose.parse(compose);
  const svc = (name: string) => {
    const s = file.services[name];
    if (!s) throw new Error(`no service ${name}`);
    return s;
  };

  it('is valid against the Compose specification JSON schema (shipped by dclint on npm)', () => {
    const schema: unknown = JSON.parse(
      readFileSync(resolve(REPO_ROOT, 'node_modules/dclint/schemas/compose.schema.json'), 'utf8'),
    );
    // Variables are interpolated first, as `docker compose config` does (their defaults here).
    const interpolated: unknown = parse(
      composeText.replace(
        /\$\{(\w+)(?::?-([^}]*))?\}/g,
        (_, _name: string, def?: string) => def ?? '',
      ),
      { merge: true },
    );
    const { $schema: draft, ...body } = z.record(z.string(), z.unknown()).parse(schema);
    expect(draft).toMatch(/draft-07/);
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(body);
    expect(validate(interpolated), JSON.stringify(validate.errors, null, 2)).toBe(true);
    // The validator rejects what the specification does not allow.
    expect(validate({ services: { serve: { image: 'x', restart_policy: 'always' } } })).toBe(false);
  });

  it('passes dclint (errors; its key-order style warnings are not enforced)', () => {
    const r = spawnSync(
      process.execPath,
      [resolve(REPO_ROOT, 'node_modules/dclint/bin/dclint.cjs'), '--quiet', 'deploy/compose.yaml'],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    );
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/error/);
    expect(r.status).toBe(0);
  });

  it('runs PostgreSQL with pgvector, Redis, a one-shot migrate, serve and worker', () => {
    expect(svc('postgres').image).toMatch(/^pgvector\/pgvector:/);
    expect(svc('redis').image).toMatch(/^redis:/);
    expect(svc('migrate').command).toEqual(['migrate']);
    expect(svc('migrate').restart).toBe('no');
    expect(svc('serve').command).toEqual(['serve']);
    expect(svc('worker').command).toEqual(['worker']);
    for (const name of ['serve', 'worker']) {
      expect(svc(name).depends_on).toMatchObject({
        migrate: { condition: 'service_completed_successfully' },
        postgres: { condition: 'service_healthy' },
        redis: { condition: 'service_healthy' },
      });
      expect(svc(name).read_only).toBe(true);
      expect(svc(name).cap_drop).toEqual(['ALL']);
    }
  });

  it('reads every secret from a file (*_FILE), never from an inline value', () => {
    const secretNames = /URL|KEY|TOKEN|PASSWORD|SECRET/;
    for (const [name, s] of Object.entries(file.services)) {
      for (const [key, value] of Object.entries(s.environment ?? {})) {
        if (key === 'REDIS_URL' && value === 'redis://redis:6379') continue; // no credentials
        if (key === 'RAMPART_HEALTHCHECK_URL') continue;
        if (secretNames.test(key)) expect(key, `${name}.${key}`).toMatch(/_FILE$|__FILE$/);
        if (/_FILE$/.test(key)) {
          const secret = /^\/run\/secrets\/(\w+)$/.exec(value)?.[1];
          expect(secret, `${name}.${key}`).toBeDefined();
          expect(s.secrets, `${name} mounts ${secret}`).toContain(secret);
        }
      }
      for (const secret of s.secrets ?? []) expect(file.secrets).toHaveProperty(secret);
    }
    // generate-secrets.sh writes every file the secrets name.
    const generator = readFileSync(
      resolve(REPO_ROOT, 'deploy/compose/generate-secrets.sh'),
      'utf8',
    );
    for (const [name, def] of Object.entries(file.secrets)) {
      expect(def.file).toBe(`./compose/secrets/${name}`);
      expect(generator).toContain(`put ${name} `);
    }
  });

  it('has an observability profile with Prometheus and Grafana provisioned from the repository', () => {
    expect(svc('prometheus').profiles).toEqual(['observability']);
    expect(svc('grafana').profiles).toEqual(['observability']);
    for (const name of ['postgres', 'prometheus', 'grafana']) {
      for (const v of svc(name).volumes ?? []) {
        const source = v.split(':')[0] ?? '';
        if (source.startsWith('.'))
          expect(existsSync(resolve(REPO_ROOT, 'deploy', source)), `${name}: ${v}`).toBe(true);
      }
    }
    expect(readdirSync(resolve(REPO_ROOT, 'deploy/grafana/dashboards')).length).toBeGreaterThan(0);
  });
});

// --- The entrypoint, outside Docker -----------------------------------------------------------

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((ok, fail) => {
    let s = '';
    res.on('data', (d: Buffer) => (s += d.toString()));
    res.on('end', () => ok(s));
    res.on('error', fail);
  });
}

describe('deploy/docker-entrypoint.sh outside Docker (embedded database)', () => {
  const data = tempDataDir();
  const cache = mkdtempSync(join(tmpdir(), 'rampart-ts-cache-'));
  afterAll(() => {
    data.cleanup();
    rmSync(cache, { recursive: true, force: true });
  });

  it('starts from a cache warmed as the image build does, answers its healthcheck, drains on SIGTERM', async () => {
    // The image's build step: transform every source into RAMPART_CACHE_DIR/ts.
    execFileSync(process.execPath, ['scripts/postinstall.js'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', RAMPART_CACHE_DIR: cache },
    });
    const warmed = readdirSync(join(cache, 'ts')).length;
    expect(warmed).toBeGreaterThan(50);

    const env = {
      RAMPART_DATA_DIR: data.dir,
      RAMPART_CACHE_DIR: cache,
      RAMPART_ROOT_TOKEN: ROOT_TOKEN,
      HOST: '127.0.0.1',
      PORT: '0',
      SHUTDOWN_TIMEOUT_MS: '20000',
    };
    const p = spawnRampart([ENTRYPOINT, 'serve'], env, { command: 'sh' });
    try {
      const m = await p.waitFor(
        /"address":"http:\/\/127\.0\.0\.1:(\d+)"[^\n]*"msg":"rampart serving"/,
      );
      const port = m[1] ?? '';
      // Every module the server loaded came from the warmed cache: a read-only root filesystem
      // (where the cache cannot be written) costs nothing.
      expect(readdirSync(join(cache, 'ts')).length).toBe(warmed);

      const health = spawnRampart([ENTRYPOINT, 'healthcheck'], { PORT: port }, { command: 'sh' });
      expect(await health.exited).toBe(0);

      // An in-flight request (headers sent, body pending) when SIGTERM arrives still completes.
      const body = JSON.stringify({ slug: `drain-${Date.now().toString(36)}`, name: 'Drain' });
      const req = httpRequest({
        host: '127.0.0.1',
        port: Number(port),
        method: 'POST',
        path: '/admin/v1/tenants',
        headers: {
          authorization: `Bearer ${ROOT_TOKEN}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          expect: '100-continue',
        },
      });
      const response = new Promise<IncomingMessage>((ok, fail) => {
        req.once('response', ok);
        req.once('error', fail);
      });
      response.catch(() => undefined);
      const continued = new Promise<void>((ok) => req.once('continue', ok));
      req.flushHeaders();
      await continued;
      req.write(body.slice(0, 10));
      p.child.kill('SIGTERM');
      await p.waitFor(/"msg":"no longer accepting connections/);
      req.end(body.slice(10));
      const res = await response;
      expect(res.statusCode).toBe(201);
      expect(JSON.parse(await readBody(res))).toMatchObject({ tenant: { name: 'Drain' } });
      expect(await p.exited).toBe(0);
      expect(p.stdout()).toMatch(/"msg":"stopped"/);

      const after = spawnRampart([ENTRYPOINT, 'healthcheck'], { PORT: port }, { command: 'sh' });
      expect(await after.exited).toBe(1);
    } finally {
      p.child.kill('SIGKILL');
    }
  });

  it('refuses to start the embedded database on a data directory it cannot write', async () => {
    const p = spawnRampart(
      [ENTRYPOINT, 'migrate'],
      { RAMPART_DATA_DIR: '/proc/rampart-not-writable' },
      { command: 'sh' },
    );
    expect(await p.exited).toBe(2);
    expect(p.stderr()).toMatch(/is not writable/);
  });
});
