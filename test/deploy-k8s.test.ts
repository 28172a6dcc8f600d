// The Kubernetes manifests (deploy/k8s/): each overlay is rendered with `kubectl kustomize`,
// every object is validated against the Kubernetes schemas (kubernetes-models,
// @kubernetes-models/keda, @kubernetes-models/prometheus-operator, pinned devDependencies), and
// the properties issue #30 requires are asserted on every workload. Without kubectl the suite
// is skipped, unless RAMPART_DEPLOY_TOOLS=required (as .ci/run sets it).
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { REPO_ROOT } from './helpers/serve-process.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { declarationFile, unknownFields } from './helpers/k8s-fields.js';

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
const required = process.env.RAMPART_DEPLOY_TOOLS === 'required';
const OVERLAYS = ['dev', 'prod'] as const;
/** The Secrets the manifests expect to exist (deploy/k8s/README.md), and their keys. */
const SECRETS: Record<string, string[]> = {
  'rampart-database': ['url', 'admin-url'],
  'rampart-redis': ['url'],
  'rampart-keys': ['secret-key', 'master-key', 'root-token', 'metrics-token'],
};

const Obj = z
  .object({
    apiVersion: z.string(),
    kind: z.string(),
    metadata: z.object({ name: z.string(), namespace: z.string().optional() }).passthrough(),
  })
  .passthrough();
type Obj = z.infer<typeof Obj>;

function render(overlay: string): Obj[] {
  const out = execFileSync('kubectl', ['kustomize', `deploy/k8s/overlays/${overlay}`], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  return parseAllDocuments(out).map((d) => Obj.parse(d.toJS()));
}

/** The kubernetes-models module for an apiVersion. */
function modelModule(apiVersion: string): string {
  if (apiVersion.startsWith('keda.sh/')) return `@kubernetes-models/keda/${apiVersion}`;
  if (apiVersion.startsWith('monitoring.coreos.com/'))
    return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  return `kubernetes-models/${apiVersion}`;
}

/** Validates an object with its kubernetes-models class; returns the error text or ''. */
async function schemaErrors(obj: Obj): Promise<string> {
  const mod: Record<string, unknown> = await import(modelModule(obj.apiVersion));
  const Model = mod[obj.kind];
  if (typeof Model !== 'function') return `no schema for ${obj.apiVersion} ${obj.kind}`;
  try {
    const model: unknown = Reflect.construct(Model, [obj]);
    const validate = z.object({ validate: z.function() }).parse(model).validate;
    validate.call(model);
    return '';
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

const Probe = z
  .object({
    httpGet: z.object({ path: z.string(), port: z.union([z.string(), z.number()]) }).optional(),
    tcpSocket: z.object({ port: z.union([z.string(), z.number()]) }).optional(),
  })
  .passthrough();
const Container = z
  .object({
    name: z.string(),
    image: z.string(),
    args: z.array(z.string()).optional(),
    env: z
      .array(
        z.object({
          name: z.string(),
          value: z.string().optional(),
          valueFrom: z.unknown().optional(),
        }),
      )
      .optional(),
    startupProbe: Probe.optional(),
    livenessProbe: Probe.optional(),
    readinessProbe: Probe.optional(),
    resources: z.object({
      requests: z.object({ cpu: z.string(), memory: z.string() }),
      limits: z.object({ memory: z.string() }),
    }),
    securityContext: z.object({
      allowPrivilegeEscalation: z.literal(false),
      readOnlyRootFilesystem: z.literal(true),
      privileged: z.literal(false),
      capabilities: z.object({ drop: z.tuple([z.literal('ALL')]) }),
    }),
    volumeMounts: z.array(z.object({ name: z.string(), mountPath: z.string() })),
  })
  .passthrough();
const PodSpec = z
  .object({
    automountServiceAccountToken: z.literal(false),
    securityContext: z.object({
      runAsNonRoot: z.literal(true),
      runAsUser: z.number().int().positive(),
      runAsGroup: z.number().int().positive(),
      seccompProfile: z.object({ type: z.literal('RuntimeDefault') }),
    }),
    containers: z.array(Container).min(1),
    terminationGracePeriodSeconds: z.number().optional(),
    topologySpreadConstraints: z
      .array(z.object({ topologyKey: z.string(), whenUnsatisfiable: z.string() }).passthrough())
      .optional(),
    volumes: z.array(z.object({ name: z.string() }).passthrough()),
  })
  .passthrough();
const PodTemplate = z.object({
  metadata: z.object({ labels: z.record(z.string(), z.string()) }),
  spec: PodSpec,
});
type PodSpec = z.infer<typeof PodSpec>;

/** Every pod spec of the workloads (Deployments, Jobs, CronJobs), by object name. */
function podSpecs(objects: Obj[]): Map<string, { spec: PodSpec; labels: Record<string, string> }> {
  const specs = new Map<string, { spec: PodSpec; labels: Record<string, string> }>();
  for (const o of objects) {
    const raw =
      o.kind === 'Deployment' || o.kind === 'Job'
        ? z.object({ spec: z.object({ template: z.unknown() }) }).parse(o).spec.template
        : o.kind === 'CronJob'
          ? z
              .object({
                spec: z.object({
                  jobTemplate: z.object({ spec: z.object({ template: z.unknown() }) }),
                }),
              })
              .parse(o).spec.jobTemplate.spec.template
          : undefined;
    if (raw === undefined) continue;
    const t = PodTemplate.safeParse(raw);
    if (!t.success) throw new Error(`${o.kind} ${o.metadata.name}: ${t.error.message}`);
    specs.set(o.metadata.name, { spec: t.data.spec, labels: t.data.metadata.labels });
  }
  return specs;
}

const SecretVolume = z.object({
  secretName: z.string().optional(),
  name: z.string().optional(),
  items: z.array(z.object({ key: z.string(), path: z.string() })),
});

/** Every Secret key a pod's volumes mount (secret and projected volumes). */
function secretRefs(volumes: unknown): { secret: string; key: string }[] {
  const out: { secret: string; key: string }[] = [];
  const walk = (v: unknown, inSecret: boolean): void => {
    if (Array.isArray(v)) for (const x of v) walk(x, inSecret);
    else if (v && typeof v === 'object') {
      const s = SecretVolume.safeParse(v);
      if (inSecret && s.success)
        for (const item of s.data.items)
          out.push({ secret: s.data.secretName ?? s.data.name ?? '', key: item.key });
      for (const [k, x] of Object.entries(v)) walk(x, k === 'secret');
    }
  };
  walk(volumes, false);
  return out;
}

const NetworkPolicy = z.object({
  metadata: z.object({ name: z.string() }),
  spec: z.object({
    podSelector: z.object({
      matchLabels: z.record(z.string(), z.string()).optional(),
      matchExpressions: z
        .array(z.object({ key: z.string(), operator: z.string(), values: z.array(z.string()) }))
        .optional(),
    }),
    policyTypes: z.array(z.string()),
    ingress: z
      .array(
        z.object({
          from: z.array(z.record(z.string(), z.unknown())),
          ports: z.array(z.object({ protocol: z.string(), port: z.number() })),
        }),
      )
      .optional(),
    egress: z
      .array(
        z.object({
          to: z.array(z.record(z.string(), z.unknown())),
          ports: z.array(z.object({ protocol: z.string(), port: z.number() })),
        }),
      )
      .optional(),
  }),
});
type NetworkPolicy = z.infer<typeof NetworkPolicy>;

/** Whether a policy's pod selector selects pods with these labels. */
function selects(p: NetworkPolicy, labels: Record<string, string>): boolean {
  const s = p.spec.podSelector;
  const byLabels = Object.entries(s.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpr = (s.matchExpressions ?? []).every(
    (e) => e.operator === 'In' && e.values.includes(labels[e.key] ?? ''),
  );
  return byLabels && byExpr;
}

describe.skipIf(!kubectl && !required)(
  kubectl || required ? 'deploy/k8s overlays' : 'deploy/k8s overlays (skipped: no kubectl)',
  () => {
    it('kubectl is installed where CI requires it', () => {
      expect(kubectl, 'kubectl (with kustomize)').toBe(true);
    });

    describe.each(OVERLAYS)('overlay %s', (overlay) => {
      const objects = kubectl ? render(overlay) : [];
      const of = (kind: string) => objects.filter((o) => o.kind === kind);
      const named = (kind: string, name: string) => {
        const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
        if (!o) throw new Error(`${overlay}: no ${kind} ${name}`);
        return o;
      };
      const pods = podSpecs(objects);
      const policies = of('NetworkPolicy').map((p) => NetworkPolicy.parse(p));

      it('renders the workloads, services, autoscalers, budgets, policies and ingress', () => {
        const kinds = new Set(objects.map((o) => `${o.kind}/${o.metadata.name}`));
        for (const k of [
          'Namespace/' + (overlay === 'prod' ? 'rampart' : 'rampart-dev'),
          'Deployment/rampart-serve',
          'Deployment/rampart-worker',
          'Job/rampart-migrate',
          'CronJob/rampart-audit-verify',
          'Service/rampart-serve',
          'PodDisruptionBudget/rampart-serve',
          'PodDisruptionBudget/rampart-worker',
          'HorizontalPodAutoscaler/rampart-serve',
          'ScaledObject/rampart-worker',
          'TriggerAuthentication/rampart-worker-database',
          'NetworkPolicy/rampart-default-deny',
          'Ingress/rampart',
        ])
          expect(kinds, k).toContain(k);
        if (overlay === 'prod') {
          expect(kinds).toContain('ServiceMonitor/rampart-serve');
          expect(kinds).toContain('ServiceMonitor/rampart-worker');
        }
        // Namespaced objects all land in the overlay's namespace.
        for (const o of objects.filter((x) => x.kind !== 'Namespace'))
          expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe(
            overlay === 'prod' ? 'rampart' : 'rampart-dev',
          );
      });

      it('every object is valid against its Kubernetes schema', async () => {
        const errors: string[] = [];
        for (const o of objects) {
          const e = await schemaErrors(o);
          if (e) errors.push(`${o.kind} ${o.metadata.name}: ${e}`);
        }
        expect(errors).toEqual([]);
      });

      it('no object has a field its API type does not have (a typo the API server would drop)', () => {
        const unknown = objects.flatMap((o) =>
          unknownFields(o, declarationFile(REPO_ROOT, modelModule(o.apiVersion), o.kind)).map(
            (f) => `${o.kind} ${o.metadata.name}: ${f}`,
          ),
        );
        expect(unknown).toEqual([]);
        const typo = {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'typo' },
          spec: { template: { spec: { containers: [{ name: 'x', readinesProbe: {} }] } } },
        };
        expect(
          unknownFields(typo, declarationFile(REPO_ROOT, modelModule('apps/v1'), 'Deployment')),
        ).toEqual(['.spec.template.spec.containers[0].readinesProbe']);
      });

      it('the schema validation rejects a broken object', async () => {
        const bad = Obj.parse({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'broken' },
          spec: { replicas: 'three', template: { spec: { containers: [{ name: 'x' }] } } },
        });
        expect(await schemaErrors(bad)).not.toBe('');
      });

      it('every workload runs non-root, without privilege escalation, read-only, no capabilities, seccomp RuntimeDefault, with resources', () => {
        expect([...pods.keys()].sort()).toEqual([
          'rampart-audit-verify',
          'rampart-migrate',
          'rampart-serve',
          'rampart-worker',
        ]);
        // PodSpec/Container parsing above enforces the security context on every pod and container.
        for (const [name, { spec }] of pods) {
          expect(spec.securityContext.runAsUser, name).toBe(10001);
          for (const c of spec.containers) {
            expect(c.image, name).toMatch(/^[\w./-]+:[\w.-]+$/);
            // /tmp is writable (an emptyDir) since the root filesystem is not.
            expect(
              c.volumeMounts.map((m) => m.mountPath),
              name,
            ).toContain('/tmp');
          }
        }
      });

      it('secrets come from existing Secrets as files, never inline', () => {
        expect(of('Secret')).toEqual([]);
        for (const [name, { spec }] of pods) {
          for (const c of spec.containers)
            for (const e of c.env ?? []) {
              if (/URL|KEY|TOKEN|PASSWORD|SECRET/.test(e.name))
                expect(e.name, `${name} ${e.name}`).toMatch(/_FILE$/);
              if (e.value?.startsWith('/run/secrets/')) {
                const mounted = c.volumeMounts.some((m) => e.value?.startsWith(m.mountPath + '/'));
                expect(mounted, `${name} ${e.name}`).toBe(true);
              }
            }
          const refs = secretRefs(spec.volumes);
          expect(refs.length, `${name} mounts its Secrets`).toBeGreaterThan(0);
          for (const { secret, key } of refs) {
            expect(Object.keys(SECRETS), `${name} ${secret}`).toContain(secret);
            expect(SECRETS[secret], `${name} ${secret}/${key}`).toContain(key);
          }
        }
      });

      it('serve: startup and liveness on /healthz, readiness on /readyz, spread, disruption budget', () => {
        const serve = pods.get('rampart-serve')?.spec;
        const c = serve?.containers[0];
        expect(c?.args).toEqual(['serve']);
        expect(c?.startupProbe?.httpGet?.path).toBe('/healthz');
        expect(c?.livenessProbe?.httpGet?.path).toBe('/healthz');
        expect(c?.readinessProbe?.httpGet?.path).toBe('/readyz');
        expect(serve?.terminationGracePeriodSeconds).toBeGreaterThan(20);
        expect(serve?.topologySpreadConstraints?.map((t) => t.topologyKey).sort()).toEqual([
          'kubernetes.io/hostname',
          'topology.kubernetes.io/zone',
        ]);
        const worker = pods.get('rampart-worker')?.spec;
        const w = worker?.containers[0];
        expect(w?.args).toEqual(['worker']);
        for (const probe of [w?.startupProbe, w?.livenessProbe, w?.readinessProbe])
          expect(probe?.tcpSocket?.port).toBe('metrics');
        expect(worker?.topologySpreadConstraints).toHaveLength(2);
        for (const name of ['rampart-serve', 'rampart-worker']) {
          const pdb = z
            .object({
              spec: z.object({
                selector: z.object({ matchLabels: z.record(z.string(), z.string()) }),
              }),
            })
            .parse(named('PodDisruptionBudget', name));
          const labels = pods.get(name)?.labels ?? {};
          for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels))
            expect(labels[k]).toBe(v);
        }
        expect(pods.get('rampart-migrate')?.spec.containers[0]?.args).toEqual(['migrate']);
        expect(pods.get('rampart-audit-verify')?.spec.containers[0]?.args).toEqual([
          'audit',
          'verify',
          '--all',
        ]);
      });

      it('HPA scales serve on CPU and request rate; KEDA scales the worker on queue depth', () => {
        const hpa = z
          .object({
            spec: z.object({
              scaleTargetRef: z.object({ kind: z.string(), name: z.string() }),
              metrics: z.array(z.object({ type: z.string() }).passthrough()),
            }),
          })
          .parse(named('HorizontalPodAutoscaler', 'rampart-serve'));
        expect(hpa.spec.scaleTargetRef).toMatchObject({
          kind: 'Deployment',
          name: 'rampart-serve',
        });
        expect(JSON.stringify(hpa.spec.metrics)).toContain('"name":"cpu"');
        expect(JSON.stringify(hpa.spec.metrics)).toContain(
          '"name":"rampart_http_requests_per_second"',
        );
        const so = z
          .object({
            spec: z.object({
              scaleTargetRef: z.object({ name: z.string() }),
              triggers: z.array(
                z.object({
                  type: z.string(),
                  metadata: z.record(z.string(), z.string()),
                  authenticationRef: z.object({ name: z.string() }),
                }),
              ),
            }),
          })
          .parse(named('ScaledObject', 'rampart-worker'));
        expect(so.spec.scaleTargetRef.name).toBe('rampart-worker');
        const trigger = so.spec.triggers[0];
        expect(trigger?.type).toBe('postgresql');
        expect(trigger?.metadata.query).toContain('rampart_job_counts()');
        expect(Number(trigger?.metadata.targetQueryValue)).toBeGreaterThan(0);
        const auth = JSON.stringify(
          named('TriggerAuthentication', trigger?.authenticationRef.name ?? ''),
        );
        expect(auth).toContain('{"key":"url","name":"rampart-database","parameter":"connection"}');
      });

      it('NetworkPolicy: default deny; API from the ingress namespace only; no ingress to the worker; egress to DNS, PostgreSQL, Redis and HTTPS', () => {
        const deny = policies.find((p) => p.metadata.name === 'rampart-default-deny');
        expect(deny?.spec.podSelector).toEqual({});
        expect(deny?.spec.policyTypes.sort()).toEqual(['Egress', 'Ingress']);
        const monitoringNs = {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
        };
        const ingressNs = {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } },
        };
        for (const [name, { labels }] of pods) {
          const ingress = policies
            .filter((p) => selects(p, labels))
            .flatMap((p) => p.spec.ingress ?? []);
          if (name === 'rampart-serve') {
            expect(ingress).toContainEqual({
              from: [ingressNs],
              ports: [{ protocol: 'TCP', port: 8080 }],
            });
          }
          // Apart from the ingress controller to serve, only Prometheus (monitoring component,
          // prod) may connect, and only to the metrics ports.
          for (const rule of ingress) {
            const fromIngress = JSON.stringify(rule.from) === JSON.stringify([ingressNs]);
            if (fromIngress) expect(name).toBe('rampart-serve');
            else {
              expect(rule.from).toEqual([monitoringNs]);
              expect(overlay).toBe('prod');
            }
          }
          if (name !== 'rampart-serve') {
            const fromOutside = ingress.filter(
              (r) => JSON.stringify(r.from) !== JSON.stringify([monitoringNs]),
            );
            expect(fromOutside, `${name} accepts no connections`).toEqual([]);
          }
          const egressPorts = new Set(
            policies
              .filter((p) => selects(p, labels))
              .flatMap((p) => p.spec.egress ?? [])
              .flatMap((r) => r.ports.map((pt) => `${pt.protocol}/${pt.port}`)),
          );
          const expected = ['UDP/53', 'TCP/53', 'TCP/5432', 'TCP/6379'];
          if (name === 'rampart-serve' || name === 'rampart-worker') expected.push('TCP/443');
          expect([...egressPorts].sort(), name).toEqual(expected.sort());
        }
        const providers = JSON.stringify(
          policies.find((p) => p.metadata.name === 'rampart-provider-egress'),
        );
        expect(providers).toContain('169.254.0.0/16');
        expect(providers).toContain('10.0.0.0/8');
      });

      it('Ingress terminates TLS for its host and routes to the API service', () => {
        const ing = z
          .object({
            spec: z.object({
              tls: z.array(z.object({ hosts: z.array(z.string()), secretName: z.string() })),
              rules: z.array(z.object({ host: z.string() }).passthrough()),
            }),
          })
          .parse(named('Ingress', 'rampart'));
        expect(ing.spec.tls[0]?.hosts).toContain(ing.spec.rules[0]?.host);
        expect(ing.spec.tls[0]?.secretName).toBeTruthy();
        expect(JSON.stringify(ing.spec.rules)).toContain('"name":"rampart-serve"');
      });
    });
  },
);

// The KEDA trigger's query runs, as the application role, against a migrated database.
describe('the KEDA queue-depth query', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase('pglite');
  });
  afterAll(async () => {
    await t.close();
  });

  it('runs as rampart_app and counts queued and running jobs', async () => {
    const text = readFileSync(resolve(REPO_ROOT, 'deploy/k8s/base/autoscaling.yaml'), 'utf8');
    const query = /query: (SELECT .*)$/m.exec(text)?.[1] ?? '';
    expect(query).toContain('rampart_job_counts()');
    const rows = await t.db.withOperator((tx) => tx.query<Record<string, unknown>>(query));
    expect(Object.values(rows.rows[0] ?? {})).toEqual([0]);
  });
});
