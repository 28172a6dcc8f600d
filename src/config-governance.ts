import { int, type SettingDef } from './config-schema.js';

/** Settings of retention, legal holds and tenant offboarding (src/governance/). */
export const governanceSettings = {
  RETENTION_AUDIT_FLOOR_DAYS: {
    schema: int(1, 36_500).default(365),
    description:
      'Retention: the shortest audit retention a tenant may set (days). PUT /v1/governance/retention refuses an audit period below it, and sweeps never prune audit events younger than it whatever is stored.',
    defaultText: '365',
  },
  RETENTION_SWEEP_PERIOD_SECONDS: {
    schema: int(60, 2_592_000).default(86_400),
    description:
      'Retention: one sweep per tenant with a retention policy per period of this length (default daily), however many workers run the scheduler.',
    defaultText: '86400',
  },
  RETENTION_SCHEDULER_TICK_MS: {
    schema: int(1000, 3_600_000).default(60_000),
    description:
      'Retention and offboarding: how often each worker asks the database whether a sweep or a tenant purge is due (cheap; the database decides, once per period).',
    defaultText: '60000',
  },
  RETENTION_BATCH_SIZE: {
    schema: int(1, 10_000).default(1000),
    description:
      'Retention and tenant purge: rows deleted per statement (one short transaction per batch, so no sweep holds locks for long).',
    defaultText: '1000',
  },
  TENANT_PURGE_GRACE_HOURS: {
    schema: int(0, 8760).default(720),
    description:
      'Offboarding: hours between DELETE /admin/v1/tenants/:id (the tenant is disabled at once) and the purge of all its data; POST /admin/v1/tenants/:id/restore works until then. Default 30 days.',
    defaultText: '720',
  },
} satisfies Record<string, SettingDef>;
