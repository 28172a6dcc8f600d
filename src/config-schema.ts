/** The building blocks of setting declarations (see config.ts). */
import { availableParallelism } from 'node:os';
import { z } from 'zod';

export const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
export const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
export const url = z.string().url();
/** A number of processes: a whole number from 1 to max, or `auto` for one per available CPU. */
export const processCount = (max: number) =>
  z.union([z.literal('auto').transform(() => availableParallelism()), int(1, max)], {
    error: `must be a whole number from 1 to ${max}, or auto`,
  });

export interface SettingDef {
  schema: z.ZodType;
  description: string;
  /** Secret settings also accept NAME_FILE and are redacted everywhere. */
  secret?: boolean;
  /** Shown in the settings table (docs/configuration.md); omitted means "unset". */
  defaultText?: string;
}
