// A Dockerfile linter for deploy/Dockerfile: hadolint is not obtainable from the registries CI
// reaches, so the rules of hadolint that apply to this image are restated here (each names the
// hadolint rule it stands for), with the image-specific requirements of issue #30 on top.

/** One instruction: keyword, its arguments (continuation lines joined), its stage and line. */
export interface Instruction {
  keyword: string;
  args: string;
  line: number;
  stage: number;
}

export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  let stage = -1;
  for (let i = 0; i < lines.length; i += 1) {
    const start = i;
    let line = lines[i] ?? '';
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      i += 1;
      const next = lines[i] ?? '';
      if (/^\s*#/.test(next)) continue;
      line = line.replace(/\\\s*$/, ' ') + next.trim();
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m?.[1]) continue;
    const keyword = m[1].toUpperCase();
    if (keyword === 'FROM') stage += 1;
    out.push({ keyword, args: (m[2] ?? '').trim(), line: start + 1, stage });
  }
  return out;
}

/** Problems found, as `line N: [rule] message`; empty when the Dockerfile passes. */
export function lintDockerfile(text: string): string[] {
  const ins = parseDockerfile(text);
  const problems: string[] = [];
  const report = (i: Instruction | undefined, rule: string, msg: string) =>
    problems.push(`line ${i?.line ?? 0}: [${rule}] ${msg}`);
  const args = new Map<string, string>();
  for (const i of ins) {
    if (i.keyword === 'ARG' && i.stage === -1) {
      const [name, value] = i.args.split('=', 2);
      if (name && value) args.set(name, value);
    }
  }
  const froms = ins.filter((i) => i.keyword === 'FROM');
  const stageNames = new Set<string>();
  if (froms.length < 2)
    report(froms[0], 'multi-stage', 'the image must be built in several stages');
  for (const f of froms) {
    const [ref = '', as, name] = f.args.split(/\s+/);
    const image = ref.replace(/\$\{(\w+)\}/g, (_, n: string) => args.get(n) ?? '');
    if (as?.toUpperCase() === 'AS' && name) stageNames.add(name);
    if (stageNames.has(image)) continue;
    // DL3006 / DL3007: always tag the base image, never with `latest`.
    if (!/:[\w.-]+$/.test(image) && !/@sha256:/.test(image))
      report(f, 'DL3006', `untagged base image '${image}'`);
    if (/:latest$/.test(image)) report(f, 'DL3007', `base image '${image}' uses latest`);
  }
  const lastStage = froms.length - 1;
  for (const i of ins) {
    if (i.keyword === 'ADD') report(i, 'DL3020', 'use COPY, not ADD, for files');
    if (i.keyword === 'MAINTAINER') report(i, 'DL4000', 'MAINTAINER is deprecated: use a label');
    if (i.keyword === 'RUN') {
      if (/(^|[;&|]\s*)cd\s/.test(i.args)) report(i, 'DL3003', 'use WORKDIR, not cd');
      if (/\bsudo\b/.test(i.args)) report(i, 'DL3004', 'do not use sudo');
      if (/\bapt-get\s+upgrade\b|\bapt-get\s+dist-upgrade\b/.test(i.args))
        report(i, 'DL3005', 'do not upgrade the base image in a build');
      if (/\bapt-get\s+install\b/.test(i.args)) {
        if (!/\s-y\b|--yes|--assume-yes/.test(i.args))
          report(i, 'DL3014', 'apt-get install needs -y');
        if (!/--no-install-recommends/.test(i.args))
          report(i, 'DL3015', 'apt-get install needs --no-install-recommends');
        if (!/rm -rf \/var\/lib\/apt\/lists/.test(i.args))
          report(i, 'DL3009', 'delete /var/lib/apt/lists after apt-get install');
      }
      if (/\bnpm\s+install\b/.test(i.args))
        report(i, 'DL3016', 'use npm ci with the lockfile, not npm install');
      // DL4006: a pipe hides the failure of its first command unless pipefail is set.
      if (
        /[^|]\|[^|]/.test(i.args) &&
        !ins.some((s) => s.keyword === 'SHELL' && /pipefail/.test(s.args))
      )
        report(i, 'DL4006', 'a RUN with a pipe needs SHELL ["/bin/bash", "-o", "pipefail", "-c"]');
    }
    if ((i.keyword === 'CMD' || i.keyword === 'ENTRYPOINT') && !i.args.startsWith('['))
      report(
        i,
        'DL3025',
        `${i.keyword} must use the JSON (exec) form so signals reach the process`,
      );
  }
  const final = ins.filter((i) => i.stage === lastStage);
  const one = (k: string) => final.filter((i) => i.keyword === k);
  // DL3002: the last USER is not root (and numeric, so Kubernetes can check runAsNonRoot).
  const user = one('USER').at(-1);
  if (!user) report(froms[lastStage], 'DL3002', 'the final stage sets no USER (runs as root)');
  else if (!/^[1-9]\d*(:\d+)?$/.test(user.args))
    report(user, 'DL3002', `USER '${user.args}' must be a numeric non-root uid`);
  for (const k of ['CMD', 'ENTRYPOINT', 'HEALTHCHECK'])
    if (one(k).length > 1)
      report(one(k)[1], 'DL4003', `several ${k} instructions: only the last counts`);
  const health = one('HEALTHCHECK')[0];
  if (!health) report(froms[lastStage], 'healthcheck', 'no HEALTHCHECK in the final stage');
  const entry = one('ENTRYPOINT')[0];
  if (!entry || !/"\/usr\/bin\/tini"|"tini"/.test(entry.args))
    report(
      entry ?? froms[lastStage],
      'init',
      'PID 1 must be tini (ENTRYPOINT ["/usr/bin/tini", "--", ...])',
    );
  const labels = one('LABEL')
    .map((l) => l.args)
    .join(' ');
  for (const key of ['title', 'description', 'version', 'revision', 'created', 'licenses'])
    if (!labels.includes(`org.opencontainers.image.${key}=`))
      report(froms[lastStage], 'labels', `missing OCI label org.opencontainers.image.${key}`);
  return problems;
}
