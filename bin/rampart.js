#!/usr/bin/env node
// The `rampart` CLI. Sources are TypeScript, transformed as they load by the hooks in
// ts-hooks.js, so a fresh clone needs no build step: `npm install && npm start` is the whole
// setup (decision 002).
import { register } from 'node:module';

process.setSourceMapsEnabled(true);
register('./ts-hooks.js', import.meta.url);
await import('../src/main.ts');
