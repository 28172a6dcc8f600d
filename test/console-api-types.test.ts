import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_TYPES_FILE, apiTypesFrom, currentOpenApi } from '../scripts/gen-api-types.js';

// The console's API client is typed from the server's OpenAPI document; the committed types
// must be exactly what the current routes generate, so a changed route breaks the web build
// (`tsc -p web` in npm run check) instead of failing at run time.
describe('web/src/api/schema.d.ts', () => {
  it('matches the types generated from the current /openapi.json', async () => {
    const expected = await apiTypesFrom(await currentOpenApi());
    const committed = readFileSync(API_TYPES_FILE, 'utf8');
    expect(committed === expected, 'run `npm run gen:api-types` and commit the result').toBe(true);
    expect(committed).toContain("'/v1/me': {");
    // Builds the whole app on a fresh embedded database: about 60 s on a loaded 2-core machine.
  }, 180_000);
});
