import { beforeAll, describe, expect, it } from 'vitest';
import { MYSQL_ATTACKS, POSTGRES_ATTACKS } from '../../test/fixtures/sql-attacks.js';
import { goldQueries } from '../../test/helpers/text2sql.js';
import { SqlRefused } from './refusal.js';
import { PolicyRewrite } from './policy-rewrite.js';
import { validateMysql } from './validate-mysql.js';
import { loadPostgresParser, validatePostgres, type TableRules } from './validate-pg.js';

const RESTAURANTS: TableRules = {
  schemas: ['public'],
  tables: new Set(['public.restaurant', 'public.location', 'public.geographic']),
};
const MYSQL_RESTAURANTS: TableRules = {
  schemas: ['test'],
  tables: new Set(['test.restaurant', 'test.location', 'test.geographic']),
};

function refusal(fn: () => unknown): SqlRefused | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof SqlRefused) return err;
    throw err;
  }
  return undefined;
}

beforeAll(async () => loadPostgresParser());

describe('layer 1 on PostgreSQL grammar', () => {
  const gold = goldQueries();
  it('expands the gold set (every question, every alternative)', () => {
    expect(new Set(gold.map((g) => g.index)).size).toBe(210);
    expect(gold.length).toBeGreaterThan(210);
    expect(gold.some((g) => g.sql.includes('{'))).toBe(false);
  });

  it.each(gold.map((g) => [g.db, g.index, g.sql] as const))(
    'accepts gold %s #%i',
    (db, _i, sql) => {
      const rules: TableRules = { schemas: db === 'ewallet' ? ['consumer_div'] : ['public'] };
      const out = validatePostgres(sql, rules);
      expect(out.tables.length).toBeGreaterThan(0);
      // What runs is the deparsed tree, and it parses back to the same checks.
      expect(validatePostgres(out.sql, rules).tables).toEqual(out.tables);
    },
  );

  it('has an attack corpus of at least 100 statements', () => {
    expect(POSTGRES_ATTACKS.length).toBeGreaterThanOrEqual(100);
  });

  it.each(POSTGRES_ATTACKS.map((x) => [x.code, x.sql] as const))('refuses %s: %s', (code, sql) => {
    const err = refusal(() => validatePostgres(sql, RESTAURANTS));
    expect(err?.code, `accepted: ${sql}`).toBe(code);
    expect(err?.status).toBe(422);
    expect(typeof err?.offending).toBe('string');
  });

  it('names the offending part', () => {
    expect(
      refusal(() => validatePostgres("SELECT pg_read_file('/x')", RESTAURANTS))?.offending,
    ).toBe('pg_read_file');
    expect(refusal(() => validatePostgres('SELECT * FROM secrets', RESTAURANTS))?.offending).toBe(
      'secrets',
    );
    expect(
      refusal(() => validatePostgres('WITH x AS (SELECT 1) DELETE FROM t', RESTAURANTS))?.offending,
    ).toBe('DELETE');
  });

  it('accepts what analysts write: CTEs in scope, recursion, windows, LATERAL, set operations', () => {
    for (const sql of [
      'WITH top AS (SELECT * FROM restaurant ORDER BY rating DESC LIMIT 3) SELECT name FROM top',
      'WITH a AS (SELECT 1 AS n), b AS (SELECT n FROM a) SELECT * FROM b',
      'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r',
      'SELECT name, rank() OVER (PARTITION BY city_name ORDER BY rating DESC) FROM restaurant',
      'SELECT r.name, l.street_name FROM restaurant r, LATERAL (SELECT street_name FROM location WHERE restaurant_id = r.id) l',
      'SELECT city_name FROM restaurant INTERSECT SELECT city_name FROM geographic',
      "SELECT U&'d\\0061t\\+000061' AS s, $$dollar$$ AS d, E'\\x41' AS e",
      'TABLE restaurant',
      'VALUES (1), (2)',
    ])
      expect(validatePostgres(sql, RESTAURANTS).sql.length).toBeGreaterThan(0);
  });

  it('without a table list allows the schemas only, never a catalogue', () => {
    const rules: TableRules = { schemas: ['public'] };
    expect(validatePostgres('SELECT * FROM anything', rules).tables).toEqual(['public.anything']);
    expect(refusal(() => validatePostgres('SELECT * FROM pg_class', rules))?.code).toBe(
      'sql_table_not_allowed',
    );
    expect(refusal(() => validatePostgres('SELECT * FROM other.t', rules))?.code).toBe(
      'sql_table_not_allowed',
    );
  });
});

describe('layer 1 on the MariaDB grammar', () => {
  it.each(MYSQL_ATTACKS.map((x) => [x.code, x.sql] as const))('refuses %s: %s', (code, sql) => {
    const err = refusal(() => validateMysql(sql, MYSQL_RESTAURANTS));
    expect(err?.code, `accepted: ${sql}`).toBe(code);
  });

  it('accepts selects, CTEs, joins and subqueries over allowed tables, regenerated from the tree', () => {
    const out = validateMysql(
      'WITH c AS (SELECT city_name FROM geographic) SELECT r.name, COUNT(*) FROM restaurant r JOIN c ON c.city_name = r.city_name /*! , SLEEP(5) */ WHERE r.id IN (SELECT restaurant_id FROM location) GROUP BY r.name',
      MYSQL_RESTAURANTS,
    );
    expect(out.tables).toEqual(['test.geographic', 'test.location', 'test.restaurant']);
    expect(out.sql).not.toMatch(/sleep/i);
  });
});

describe('policy rewrites on the tree', () => {
  const governed = new PolicyRewrite(
    new Map([
      [
        'public.restaurant',
        {
          filters: ["city_name = 'New York'"],
          masked: new Set(['rating']),
          columns: ['id', 'name', 'city_name', 'rating'].map((name) => ({ name, type: 'real' })),
        },
      ],
    ]),
  );

  it('rewrites a joined table on PostgreSQL, not only one in the FROM list', () => {
    const { sql } = validatePostgres(
      'SELECT r.name FROM location l JOIN restaurant r ON r.id = l.restaurant_id',
      RESTAURANTS,
      governed,
    );
    expect(sql).toContain("FROM public.restaurant WHERE city_name = 'New York' ) AS r");
    expect(sql).toContain('CAST(NULL AS real) AS rating');
  });

  it('rewrites every reference on MySQL, joined or in a subquery', () => {
    const mysqlGoverned = new PolicyRewrite(
      new Map([
        [
          'test.restaurant',
          {
            filters: ["city_name = 'New York'"],
            masked: new Set(['rating']),
            columns: ['id', 'name', 'city_name', 'rating'].map((name) => ({ name, type: 'float' })),
          },
        ],
      ]),
    );
    const { sql } = validateMysql(
      'SELECT l.city_name FROM location l JOIN restaurant ON restaurant.id = l.restaurant_id WHERE l.restaurant_id IN (SELECT id FROM restaurant)',
      MYSQL_RESTAURANTS,
      mysqlGoverned,
    );
    expect(sql.match(/WHERE \(`city_name` = 'New York'\)/g)).toHaveLength(2);
    expect(sql).toContain('NULL AS `rating`');
    expect(sql).toContain(') AS `restaurant` ON `restaurant`.`id`');
  });
});
