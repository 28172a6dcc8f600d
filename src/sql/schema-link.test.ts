import { describe, expect, it } from 'vitest';
import { servicePrincipal } from '../platform/http/principal.js';
import type { Catalogue, CatalogueTable } from './connector.js';
import { SchemaLinker, type SchemaEmbedder } from './schema-link.js';

const caller = servicePrincipal('00000000-0000-0000-0000-000000000001');
const noNotes = { tables: {}, columns: {}, examples: [] };

const table = (name: string, columns: string[], fk?: string): CatalogueTable => ({
  schema: 'public',
  name,
  rowEstimate: 10,
  columns: columns.map((c) => ({ name: c, type: 'text', nullable: true })),
  primaryKey: [columns[0] ?? 'id'],
  foreignKeys: fk
    ? [{ columns: [`${fk}_id`], references: { table: `public.${fk}s`, columns: ['id'] } }]
    : [],
});

/** 30 unrelated tables, plus a parcel table no word of the question names. */
const catalogue: Catalogue = {
  tables: [
    ...Array.from({ length: 30 }, (_, i) =>
      table(`ledger_${i}`, ['id', `amount_${i}`, 'booked_on']),
    ),
    table('consignments', ['id', 'courier_id', 'weight_kg', 'dispatched_on'], 'courier'),
    table('couriers', ['id', 'courier_name']),
  ],
};

/** A fake embedding space: one dimension per concept a word belongs to. */
const CONCEPTS = [/parcel|consignment|dispatch|shipped|courier/];
class ConceptEmbedder implements SchemaEmbedder {
  readonly model = 'concepts';
  calls: string[][] = [];
  embed(texts: readonly string[]): Promise<number[][]> {
    this.calls.push([...texts]);
    return Promise.resolve(
      texts.map((t) => [...CONCEPTS.map((c) => (c.test(t.toLowerCase()) ? 1 : 0)), 0.01]),
    );
  }
}

describe('schema linking', () => {
  it('keeps small schemas whole', async () => {
    const small = { tables: catalogue.tables.slice(0, 5) };
    expect(await new SchemaLinker(undefined).link(caller, 'r', small, 'anything', noNotes)).toBe(
      small,
    );
  });

  it('finds by embedding a table no keyword of the question names, with the table it references', async () => {
    const question = 'How many parcels were shipped last week?';
    const byKeyword = await new SchemaLinker(undefined).link(
      caller,
      'r',
      catalogue,
      question,
      noNotes,
    );
    expect(byKeyword.tables.map((t) => t.name)).not.toContain('consignments');
    const embedder = new ConceptEmbedder();
    const linker = new SchemaLinker({ forCaller: () => Promise.resolve(embedder) });
    const linked = await linker.link(caller, 'r', catalogue, question, noNotes);
    const names = linked.tables.map((t) => t.name);
    // Only what something points at: the parcel table and the table it references.
    expect(names.sort()).toEqual(['consignments', 'couriers']);
    // The schema's vectors are held: a second question embeds only itself.
    await linker.link(caller, 'r', catalogue, 'Which courier dispatched the most?', noNotes);
    expect(embedder.calls.map((c) => c.length)).toEqual([catalogue.tables.length + 1, 1]);
  });

  it('keeps a wide table to its keys and the columns the question needs', async () => {
    const wide = table(
      'consignments',
      [
        'id',
        'courier_id',
        ...Array.from({ length: 40 }, (_, i) => `attribute_${i}`),
        'parcel_weight',
      ],
      'courier',
    );
    const linked = await new SchemaLinker(undefined).link(
      caller,
      'r',
      { tables: [...catalogue.tables.slice(0, 30), wide] },
      'total parcel weight per courier',
      noNotes,
    );
    const cols = linked.tables.find((t) => t.name === 'consignments')?.columns.map((c) => c.name);
    expect(cols).toEqual(expect.arrayContaining(['id', 'courier_id', 'parcel_weight']));
    expect(cols?.length).toBeLessThanOrEqual(14);
  });
});
