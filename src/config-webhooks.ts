import { int, type SettingDef } from './config-schema.js';

/** Settings of webhook delivery (src/webhooks/). */
export const webhookSettings = {
  WEBHOOK_TIMEOUT_MS: {
    schema: int(100, 120_000).default(10_000),
    description:
      'Webhooks: longest wait for a receiver to answer one delivery attempt; a receiver that hangs fails the attempt after it and holds up no other endpoint. An endpoint is held by one worker for this plus 30 s at a time: keep that below QUEUE_LEASE_MS, so a worker that died mid-delivery is replaced.',
    defaultText: '10000',
  },
  WEBHOOK_MAX_ATTEMPTS: {
    schema: int(1, 50).default(15),
    description:
      'Webhooks: attempts of one delivery before it goes dead (with the default delays, about a day of retries).',
    defaultText: '15',
  },
  WEBHOOK_RETRY_BASE_MS: {
    schema: int(1, 3_600_000).default(10_000),
    description:
      'Webhooks: delay before the second attempt; each later delay doubles (plus or minus 20 % jitter) up to WEBHOOK_RETRY_MAX_MS.',
    defaultText: '10000',
  },
  WEBHOOK_RETRY_MAX_MS: {
    schema: int(1, 86_400_000).default(21_600_000),
    description: 'Webhooks: longest delay between two attempts of a delivery (default 6 hours).',
    defaultText: '21600000',
  },
} satisfies Record<string, SettingDef>;
