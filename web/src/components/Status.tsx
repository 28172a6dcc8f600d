import { Alert, Stack, Title } from '@mantine/core';
import { messageOf } from '../api/problem';

export function Forbidden() {
  return (
    <Alert color="grape" title="Not available to you" role="alert">
      Your role does not include this page. Ask an admin if you need it.
    </Alert>
  );
}

export function NotFoundPage() {
  return (
    <Stack>
      <Title order={1}>Not found</Title>
      <Alert color="gray">There is no page at this address.</Alert>
    </Stack>
  );
}

/** An API error shown as a readable message (its problem+json detail). */
export function ErrorAlert({
  error,
  title = 'Something went wrong',
}: {
  error: unknown;
  title?: string;
}) {
  if (!error) return null;
  return (
    <Alert color="red" title={title} role="alert">
      {messageOf(error)}
    </Alert>
  );
}
