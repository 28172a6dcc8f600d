/**
 * The retention registry: each data class a tenant can set a period for, and how its rows are
 * found and deleted. A class whose table lands in a later change is registered by adding one
 * entry here (its table, timestamp column and the columns naming a person or a document); the
 * deletion itself is generic (rampart_retention_delete, migration 0065), bounded in batches and
 * blind to held subjects. `audit` is special: its events are pruned from the start of the hash
 * chain with a signed checkpoint (audit-prune.ts), never by age alone.
 */
export const DATA_CLASSES = [
  'usage',
  'audit',
  'runs',
  'requests',
  'queries',
  'documents',
  'exports',
] as const;
export type DataClass = (typeof DATA_CLASSES)[number];

/** One table a class deletes from. */
export interface RetentionTarget {
  table: string;
  /** A timestamptz column: rows older than the period by it are deleted. */
  timeColumn: string;
  /** Columns whose text names a user or document id: a row naming a held subject is kept. */
  subjectColumns: string[];
  /** A text[] column the class's tags filter on (documents only). */
  tagColumn?: string;
  /** Only the rows whose column holds one of these values: a class owning part of a table. */
  kinds?: { column: string; values: string[] };
}

export interface RetentionClass {
  name: DataClass;
  description: string;
  /**
   * The tables in deletion order (rows referencing others first). Empty: the class's table does
   * not exist in this build; a policy can be set and is applied once it is registered.
   */
  targets: RetentionTarget[];
  /** Whether a policy may name tags (documents only). */
  tagged?: boolean;
}

export const RETENTION_CLASSES: Record<DataClass, RetentionClass> = {
  usage: {
    name: 'usage',
    description: 'the usage ledger: one row per gateway request (tokens, cost, latency)',
    targets: [
      {
        table: 'usage_events',
        timeColumn: 'created_at',
        subjectColumns: ['user_id', 'key_id'],
      },
    ],
  },
  audit: {
    name: 'audit',
    description:
      'the hash-chained audit log; pruned from the oldest event with a signed checkpoint, never below the operator floor',
    targets: [],
  },
  runs: {
    name: 'runs',
    description:
      'copilot runs with their event logs and approvals (finished runs only, by finish time)',
    // run_events and approvals go with their run (ON DELETE CASCADE): a batch of runs takes
    // their steps with it, bounded by the run's step limit.
    targets: [{ table: 'runs', timeColumn: 'finished_at', subjectColumns: ['caller_user_id'] }],
  },
  requests: {
    name: 'requests',
    description: 'answer reconstruction records (/v1/ask, copilot and /v1/sql/ask requests)',
    targets: [
      {
        table: 'request_records',
        timeColumn: 'created_at',
        subjectColumns: ['user_id', 'key_id'],
        kinds: { column: 'kind', values: ['ask', 'copilot_run'] },
      },
    ],
  },
  queries: {
    name: 'queries',
    description: 'text-to-SQL audit detail (the question, generated SQL and result shape)',
    // /v1/sql/ask's records (question, generated SQL, explanation, row count); the sql.queried
    // audit events that also name the query are pruned with the audit class.
    targets: [
      {
        table: 'request_records',
        timeColumn: 'created_at',
        subjectColumns: ['user_id', 'key_id'],
        kinds: { column: 'kind', values: ['sql_ask'] },
      },
    ],
  },
  documents: {
    name: 'documents',
    description:
      'knowledge documents with their chunks, vectors and blobs, by upload time; optionally only those carrying a tag',
    targets: [
      {
        table: 'documents',
        timeColumn: 'created_at',
        subjectColumns: ['id', 'created_by'],
        tagColumn: 'tags',
      },
    ],
    tagged: true,
  },
  exports: {
    name: 'exports',
    description: 'GDPR export archives and their records',
    // Archives go with their record (export_archives ON DELETE CASCADE).
    targets: [
      {
        table: 'subject_exports',
        timeColumn: 'created_at',
        subjectColumns: ['subject_user_id', 'requested_by'],
      },
    ],
  },
};
