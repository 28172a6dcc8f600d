import { int, type SettingDef } from './config-schema.js';

/** Settings of the usage rollups (src/analytics/rollups-*). */
export const analyticsSettings = {
  ANALYTICS_ROLLUP_INTERVAL_MS: {
    schema: int(1_000, 86_400_000).default(60_000),
    description:
      'Analytics: how often a worker looks for tenants whose usage ledger has rows not yet in the daily rollups and queues a rollup job for each; the KPI API and `rampart billing export` read the rollups, so this bounds how far they lag the ledger (plus the queue poll).',
    defaultText: '60000',
  },
} satisfies Record<string, SettingDef>;
