import { ActionIcon, Button, Group } from '@mantine/core';
import type { ReactNode } from 'react';

/**
 * An editable list of form rows (a route's targets, a source's row filters, group → role
 * mappings): each row's fields in a line with a remove button, and an add button below. `min`
 * rows stay (a route needs a target). The fields carry the row number in their labels, so each
 * is named on its own for assistive technology and tests.
 */
export function RowsEditor<T>({
  rows,
  onChange,
  blank,
  addLabel,
  removeLabel,
  testId,
  min = 0,
  children,
}: {
  rows: T[];
  onChange(rows: T[]): void;
  blank(): T;
  addLabel: string;
  removeLabel(index: number): string;
  testId?: string;
  min?: number;
  children(row: T, index: number, set: (patch: Partial<T>) => void): ReactNode;
}) {
  const set = (i: number) => (patch: Partial<T>) =>
    onChange(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  return (
    <>
      {rows.map((row, i) => (
        <Group key={i} align="flex-end" wrap="nowrap" data-testid={testId}>
          {children(row, i, set(i))}
          <ActionIcon
            variant="subtle"
            color="red"
            aria-label={removeLabel(i)}
            disabled={rows.length <= min}
            onClick={() => onChange(rows.filter((_, j) => j !== i))}
            mb={4}
          >
            ×
          </ActionIcon>
        </Group>
      ))}
      <Group>
        <Button size="xs" variant="default" onClick={() => onChange([...rows, blank()])}>
          {addLabel}
        </Button>
      </Group>
    </>
  );
}
