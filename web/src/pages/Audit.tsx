import { Alert, Button, Code, Group, Select, Table, Text, TextInput } from '@mantine/core';
import { useInfiniteQuery, useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import { api } from '../api/client';
import { must } from '../api/problem';
import { ErrorAlert } from '../components/Status';
import { WideTable } from '../components/WideTable';
import { Page } from '../components/Page';

const ACTOR_TYPES = ['user', 'api_key', 'operator', 'anonymous', 'system'] as const;
type ActorType = (typeof ACTOR_TYPES)[number];
const isActorType = (v: string | null): v is ActorType => ACTOR_TYPES.some((t) => t === v);

/** The tenant's audit events, newest first, filtered by action and actor type. */
export default function Audit() {
  const [action, setAction] = useState('');
  const [actorType, setActorType] = useState<ActorType | undefined>();
  const events = useInfiniteQuery({
    queryKey: ['audit', action, actorType],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) =>
      must(
        api.GET('/v1/audit-events', {
          params: {
            query: {
              limit: 100,
              ...(action ? { action } : {}),
              ...(actorType ? { actorType } : {}),
              ...(pageParam ? { cursor: pageParam } : {}),
            },
          },
        }),
      ),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });
  const verify = useMutation({
    mutationFn: () => must(api.GET('/v1/audit/verify')),
  });
  const rows = events.data?.pages.flatMap((p) => p.data) ?? [];
  const report = verify.data;
  return (
    <Page
      title="Audit log"
      intro="Every change, hash-chained per tenant: verifying recomputes the chain from its first event."
      actions={
        <Button onClick={() => verify.mutate()} loading={verify.isPending} variant="light">
          Verify chain
        </Button>
      }
    >
      <ErrorAlert error={verify.error} title="The chain could not be verified" />
      {report && (
        <Alert
          role="status"
          data-testid="chain-report"
          color={report.ok ? 'green' : 'red'}
          title={
            report.status === 'intact'
              ? 'Chain intact'
              : report.status === 'broken'
                ? 'Chain broken'
                : 'Chain truncated'
          }
        >
          {report.brokenAt ? (
            <>
              Event #{report.brokenAt.seq} ({report.brokenAt.id.slice(0, 8)}):{' '}
              {report.brokenAt.reason}; the {report.events} events before it verified.
            </>
          ) : (
            <>
              {report.events} events verified; head <Code>{report.head?.slice(0, 16)}</Code>.
            </>
          )}{' '}
          Checked {new Date(report.verifiedAt).toLocaleString()}.
        </Alert>
      )}
      <Group align="flex-end">
        <TextInput
          label="Action"
          placeholder="api_key.created"
          value={action}
          onChange={(e) => setAction(e.currentTarget.value.trim())}
        />
        <Select
          label="Actor type"
          data={[...ACTOR_TYPES]}
          value={actorType ?? null}
          onChange={(v) => setActorType(isActorType(v) ? v : undefined)}
          clearable
        />
      </Group>
      <ErrorAlert error={events.error} />
      <WideTable label="Audit events" minWidth={860}>
        <Table striped>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>#</Table.Th>
              <Table.Th>When</Table.Th>
              <Table.Th>Action</Table.Th>
              <Table.Th>Actor</Table.Th>
              <Table.Th>Target</Table.Th>
              <Table.Th>Outcome</Table.Th>
              <Table.Th>Hash</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {rows.map((e) => (
              <Table.Tr key={e.id} data-testid="audit-row">
                <Table.Td>{e.seq}</Table.Td>
                <Table.Td>{new Date(e.occurredAt).toLocaleString()}</Table.Td>
                <Table.Td>{e.action}</Table.Td>
                <Table.Td>
                  {e.actor.type} {e.actor.id?.slice(0, 8)}
                </Table.Td>
                <Table.Td>
                  {e.target ? `${e.target.type} ${e.target.id?.slice(0, 8) ?? ''}` : '—'}
                </Table.Td>
                <Table.Td>{e.outcome}</Table.Td>
                <Table.Td>
                  <Code>{e.hash.slice(0, 12)}</Code>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </WideTable>
      {rows.length === 0 && !events.isPending && <Text c="dimmed">No events match.</Text>}
      {events.hasNextPage && (
        <Button
          variant="default"
          onClick={() => void events.fetchNextPage()}
          loading={events.isFetchingNextPage}
        >
          Older events
        </Button>
      )}
    </Page>
  );
}
