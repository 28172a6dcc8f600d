import { Button, Group } from '@mantine/core';
import { confirmed } from './Confirm';

/**
 * A table row's actions: "Edit" and a destructive one asked about first. The buttons are named
 * with the row's subject ("Edit key ci-bot", "Revoke key ci-bot"): a row of "Edit" buttons reads
 * as nothing to a screen reader.
 */
export function RowActions({
  subject,
  onEdit,
  remove,
}: {
  subject: string;
  onEdit(): void;
  remove: { verb: string; question: string; run(): void };
}) {
  return (
    <Group gap={4} wrap="nowrap">
      <Button size="xs" variant="subtle" aria-label={`Edit ${subject}`} onClick={onEdit}>
        Edit
      </Button>
      <Button
        size="xs"
        variant="subtle"
        color="red"
        aria-label={`${remove.verb} ${subject}`}
        onClick={() => confirmed(remove.question) && remove.run()}
      >
        {remove.verb}
      </Button>
    </Group>
  );
}
