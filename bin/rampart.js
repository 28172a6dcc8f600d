#!/usr/bin/env node
// The `rampart` CLI. Sources are TypeScript run through tsx's loader, so a fresh clone
// needs no build step: `npm install && npm start` is the whole setup.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
