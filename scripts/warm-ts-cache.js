// `npm install` runs this (postinstall): transforms every source file the server loads into the
// module hooks' cache (bin/ts-hooks.js), so the first `npm start` reads JavaScript instead of
// transforming about 170 files. Never fails the install: a problem here only costs start-up time.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

try {
  const { transformCached } = await import('../bin/ts-hooks.js');
  const src = fileURLToPath(new URL('../src', import.meta.url));
  const files = readdirSync(src, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.[cm]?ts$/.test(e.name) && !/\.test\.[cm]?ts$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
  for (const path of files) await transformCached(path, readFileSync(path, 'utf8'));
} catch (err) {
  process.stderr.write(
    `rampart: could not warm the TypeScript cache (${err.message}); start-up will transform instead\n`,
  );
}
