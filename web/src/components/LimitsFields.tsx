import { NumberInput, Select } from '@mantine/core';
import type { LimitsDraft } from './limits';

/** The five limit fields (rpm, tpm, concurrency, budget and its period): the tenant's and a key's own. */
export function LimitsFields({
  value,
  onChange,
}: {
  value: LimitsDraft;
  onChange(next: LimitsDraft): void;
}) {
  const set = (patch: Partial<LimitsDraft>) => onChange({ ...value, ...patch });
  return (
    <>
      <NumberInput
        label="Requests per minute"
        min={1}
        value={value.rpm}
        onChange={(rpm) => set({ rpm })}
        w={170}
      />
      <NumberInput
        label="Tokens per minute"
        min={1}
        value={value.tpm}
        onChange={(tpm) => set({ tpm })}
        w={170}
      />
      <NumberInput
        label="Concurrent requests"
        min={1}
        value={value.concurrency}
        onChange={(concurrency) => set({ concurrency })}
        w={170}
      />
      <NumberInput
        label="Budget (USD)"
        min={0}
        decimalScale={2}
        value={value.budget}
        onChange={(budget) => set({ budget })}
        w={140}
      />
      <Select
        label="Budget period"
        data={['day', 'month']}
        value={value.period}
        onChange={(v) => (v === 'day' || v === 'month') && set({ period: v })}
        allowDeselect={false}
        w={130}
      />
    </>
  );
}
