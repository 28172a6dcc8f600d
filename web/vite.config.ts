import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The console is served by Rampart itself (src/platform/http/console.ts): assets under /assets
// with content hashes, index.html under a CSP that allows no inline script.
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [react()],
  logLevel: 'warn',
  // A build is a production build even when NODE_ENV says otherwise (vitest sets it to `test`),
  // so React's development code never reaches the bundle.
  mode: 'production',
  define: { 'process.env.NODE_ENV': JSON.stringify('production') },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // The polyfill is injected inline; every browser the console supports has modulepreload.
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 600,
  },
  server: {
    // `npx vite web` during development, against `npm start` on the default port.
    proxy: Object.fromEntries(
      ['/v1', '/auth', '/admin', '/openapi.json'].map((p) => [p, 'http://localhost:8080']),
    ),
  },
});
