import { Alert, Code, CopyButton, Button, Group } from '@mantine/core';

/** A secret the server returns once: shown until dismissed, never stored. */
export function ShownOnce({
  label,
  value,
  onDone,
}: {
  label: string;
  value: string;
  onDone(): void;
}) {
  return (
    <Alert color="green" title={label} role="status">
      <Code block data-testid="secret-once" tabIndex={0}>
        {value}
      </Code>
      <Group mt="sm">
        <CopyButton value={value}>
          {({ copied, copy }) => (
            <Button size="xs" variant="light" onClick={copy}>
              {copied ? 'Copied' : 'Copy'}
            </Button>
          )}
        </CopyButton>
        <Button size="xs" variant="default" onClick={onDone}>
          I have stored it
        </Button>
      </Group>
    </Alert>
  );
}
