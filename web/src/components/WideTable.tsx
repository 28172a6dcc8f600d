import { Table } from '@mantine/core';
import type { ReactNode } from 'react';

/**
 * A table with many columns: below `minWidth` it scrolls sideways inside itself, so a tablet's
 * page stays as wide as its window. The region takes keyboard focus (arrow keys scroll it) and
 * is named, as a scrollable region must be for keyboard users.
 */
export function WideTable({
  label,
  minWidth,
  children,
}: {
  label: string;
  minWidth: number;
  children: ReactNode;
}) {
  return (
    <Table.ScrollContainer
      type="native"
      minWidth={minWidth}
      tabIndex={0}
      role="region"
      aria-label={label}
    >
      {children}
    </Table.ScrollContainer>
  );
}
