/** The building blocks of setting declarations (see config.ts). */
import { z } from 'zod';

export const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
export const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
export const url = z.string().url();

export interface SettingDef {
  schema: z.ZodType;
  description: string;
  /** Secret settings also accept NAME_FILE and are redacted everywhere. */
  secret?: boolean;
  /** Shown in the README table; omitted means "unset". */
  defaultText?: string;
}
