import { Badge, Button, Card, Code, Group, Stack, Text, TextInput, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api } from '../api/client';
import { must } from '../api/problem';
import type { paths } from '../api/schema';
import { useSession } from '../auth/session';
import { ErrorAlert } from '../components/Status';
import { Page } from '../components/Page';

interface Decision {
  run: string;
  call: string;
  decision: 'approve' | 'deny';
  reason: string;
}

type Run =
  paths['/v1/runs']['get']['responses'][200]['content']['application/json']['data'][number];

/**
 * Who started a run, as the approver should read it: a person's e-mail or a key's name when the
 * approver may list them (users:manage, keys:manage), else the kind, id prefix and role.
 */
function useAskedBy(): (by: Run['startedBy']) => string {
  const { can } = useSession();
  const users = useQuery({
    queryKey: ['users'],
    queryFn: () => must(api.GET('/v1/users')),
    enabled: can('users:manage'),
  });
  const keys = useQuery({
    queryKey: ['api-keys'],
    queryFn: () => must(api.GET('/v1/api-keys')),
    enabled: can('keys:manage'),
  });
  return (by) => {
    const name =
      by.type === 'user'
        ? users.data?.data.find((u) => u.id === by.id)?.email
        : keys.data?.data.find((k) => k.id === by.id)?.name;
    const who = name ?? `${by.type === 'user' ? 'user' : 'API key'} ${by.id?.slice(0, 8) ?? ''}`;
    return `${by.type === 'user' ? '' : 'key '}${who} (${by.role})`.trim();
  };
}

/** Tool calls waiting for a person: the tool, its arguments, who asked; approve or deny with a reason. */
export default function Approvals() {
  const client = useQueryClient();
  const askedBy = useAskedBy();
  const [reasons, setReasons] = useState<Record<string, string>>({});
  const waiting = useQuery({
    queryKey: ['runs', 'awaiting_approval'],
    queryFn: () =>
      must(api.GET('/v1/runs', { params: { query: { status: 'awaiting_approval', limit: 100 } } })),
    refetchInterval: 3000,
  });
  const recent = useQuery({
    queryKey: ['runs', 'recent'],
    queryFn: () => must(api.GET('/v1/runs', { params: { query: { limit: 20 } } })),
    refetchInterval: 3000,
  });
  const decide = useMutation({
    mutationFn: (d: Decision) =>
      must(
        api.POST('/v1/runs/{id}/approvals/{callId}', {
          params: { path: { id: d.run, callId: d.call } },
          body: { decision: d.decision, ...(d.reason ? { reason: d.reason } : {}) },
        }),
      ),
    onSuccess: () => client.invalidateQueries({ queryKey: ['runs'] }),
  });
  const calls = (waiting.data?.data ?? []).flatMap((run) =>
    run.pendingApprovals.map((p) => ({ run, ...p })),
  );
  return (
    <Page
      title="Approvals"
      intro="Agents wait here before running a tool whose policy asks for a person."
    >
      <ErrorAlert error={waiting.error ?? decide.error} />
      {calls.length === 0 && <Text c="dimmed">Nothing is waiting for approval.</Text>}
      {calls.map((c) => {
        const key = `${c.run.id}/${c.callId}`;
        const send = (decision: 'approve' | 'deny') =>
          decide.mutate({ run: c.run.id, call: c.callId, decision, reason: reasons[key] ?? '' });
        return (
          <Card key={key} withBorder data-testid="approval">
            <Stack gap="xs">
              <Group>
                <Title order={2} size="h4">
                  {c.tool}
                </Title>
                <Text size="sm" c="dimmed">
                  run {c.run.id.slice(0, 8)} · agent {c.run.agentId.slice(0, 8)} · {c.run.steps}{' '}
                  steps · {new Date(c.run.createdAt).toLocaleString()}
                </Text>
                <Text size="sm" data-testid="asked-by">
                  asked by {askedBy(c.run.startedBy)}
                </Text>
              </Group>
              <Code block tabIndex={0}>
                {JSON.stringify(c.arguments, null, 2)}
              </Code>
              <TextInput
                label="Reason (recorded in the audit log)"
                value={reasons[key] ?? ''}
                onChange={(e) => setReasons({ ...reasons, [key]: e.currentTarget.value })}
              />
              <Group>
                <Button color="green" onClick={() => send('approve')} loading={decide.isPending}>
                  Approve
                </Button>
                <Button
                  color="red"
                  variant="light"
                  onClick={() => send('deny')}
                  loading={decide.isPending}
                >
                  Deny
                </Button>
              </Group>
            </Stack>
          </Card>
        );
      })}
      <Title order={2} size="h3">
        Recent runs
      </Title>
      <Stack gap={4}>
        {(recent.data?.data ?? []).map((r) => (
          <Group key={r.id} data-testid="run">
            <Code>{r.id.slice(0, 8)}</Code>
            <Badge
              variant="light"
              color={r.status === 'succeeded' ? 'green' : r.status === 'failed' ? 'red' : 'blue'}
            >
              {r.status}
            </Badge>
            <Text size="sm">
              {r.steps} steps · ${r.usage.costUsd.toFixed(4)}
            </Text>
          </Group>
        ))}
      </Stack>
    </Page>
  );
}
