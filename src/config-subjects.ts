import { int, type SettingDef } from './config-schema.js';

/** Settings of data subject exports and erasures (src/governance/, decision 019). */
export const subjectSettings = {
  EXPORT_LINK_TTL_SECONDS: {
    schema: int(30, 604_800).default(900),
    description:
      'Exports: lifetime of the signed download link GET /v1/exports/:id answers (each GET mints a fresh one); a link past it is refused with 410.',
    defaultText: '900',
  },
} satisfies Record<string, SettingDef>;
