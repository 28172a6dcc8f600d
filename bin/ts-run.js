// Runs one TypeScript file through the same module hooks as bin/rampart.js:
// `node bin/ts-run.js path/or/file-url.ts`. The knowledge hub starts its extraction processes
// this way; hooks registered by a parent process (or a vitest runner's transform) do not reach
// a child process, so the child registers its own before loading the entry.
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';

process.setSourceMapsEnabled(true);
register('./ts-hooks.js', import.meta.url);
const entry = process.argv[2];
if (!entry) throw new Error('usage: node bin/ts-run.js <file.ts>');
await import(entry.startsWith('file:') ? entry : pathToFileURL(entry).href);
