import {
  ActionIcon,
  Badge,
  Button,
  Card,
  Checkbox,
  Code,
  Group,
  NumberInput,
  Select,
  SimpleGrid,
  Stack,
  Table,
  Text,
  Textarea,
  TextInput,
  Timeline,
  Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState, type FormEvent } from 'react';
import { api, authHeaders, noteStatus } from '../api/client';
import { must, problemOf } from '../api/problem';
import type { paths } from '../api/schema';
import { sseData } from '../api/sse';
import { useSession } from '../auth/session';
import { ErrorAlert } from '../components/Status';
import { Page } from '../components/Page';

type AgentBody = paths['/v1/agents']['post']['requestBody']['content']['application/json'];
type ToolPolicy = NonNullable<AgentBody['tools']>[number];
type RunEvent =
  paths['/v1/runs/{id}/events']['get']['responses'][200]['content']['application/json']['data'][number];

const POLICIES = ['always', 'ask', 'deny'] as const;
const APPROVERS = ['owner', 'admin', 'member'] as const;
const isPolicy = (v: string | null): v is ToolPolicy['policy'] => POLICIES.some((p) => p === v);
const isApprover = (v: string | null): v is NonNullable<ToolPolicy['approverRole']> =>
  APPROVERS.some((p) => p === v);

/** The form that defines an agent: instructions, model alias, tools with their policies. */
function DefineAgent({ onCreated }: { onCreated(id: string): void }) {
  const client = useQueryClient();
  const tools = useQuery({ queryKey: ['tools'], queryFn: () => must(api.GET('/v1/tools')) });
  const routes = useQuery({ queryKey: ['routes'], queryFn: () => must(api.GET('/v1/routes')) });
  const [name, setName] = useState('');
  const [instructions, setInstructions] = useState('');
  const [model, setModel] = useState<string | null>(null);
  const [maxSteps, setMaxSteps] = useState<number | string>(12);
  const [chosen, setChosen] = useState<ToolPolicy[]>([]);
  const [adding, setAdding] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: () =>
      must(
        api.POST('/v1/agents', {
          body: {
            name,
            instructions,
            model: model ?? '',
            tools: chosen,
            maxSteps: typeof maxSteps === 'number' ? maxSteps : 12,
          },
        }),
      ),
    onSuccess: (agent) => {
      setName('');
      setInstructions('');
      setChosen([]);
      void client.invalidateQueries({ queryKey: ['agents'] });
      onCreated(agent.id);
    },
  });
  const update = (i: number, patch: Partial<ToolPolicy>) =>
    setChosen(chosen.map((t, j) => (j === i ? { ...t, ...patch } : t)));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  const available = (tools.data?.data ?? [])
    .map((t) => t.name)
    .filter((n) => !chosen.some((c) => c.name === n));
  return (
    <Card withBorder>
      <Title order={2} size="h3" mb="sm">
        Define an agent
      </Title>
      <ErrorAlert error={tools.error ?? create.error} />
      <form onSubmit={submit}>
        <Stack>
          <Group grow align="flex-start">
            <TextInput
              label="Agent name"
              value={name}
              onChange={(e) => setName(e.currentTarget.value)}
              required
            />
            <Select
              label="Model alias"
              placeholder="Pick a route"
              data={(routes.data?.data ?? []).map((r) => r.alias)}
              value={model}
              onChange={setModel}
              searchable
              required
            />
            <NumberInput
              label="Max steps"
              min={1}
              max={50}
              value={maxSteps}
              onChange={setMaxSteps}
            />
          </Group>
          <Textarea
            label="Instructions"
            value={instructions}
            onChange={(e) => setInstructions(e.currentTarget.value)}
            autosize
            minRows={3}
            required
          />
          <Title order={3} size="h5">
            Tools and their policies
          </Title>
          {chosen.length === 0 && <Text c="dimmed">No tools: the agent only answers.</Text>}
          {chosen.map((t, i) => (
            <Group key={t.name} align="flex-end" data-testid="agent-tool">
              <Code>{t.name}</Code>
              <Select
                label={`Policy for ${t.name}`}
                data={[...POLICIES]}
                value={t.policy}
                onChange={(v) => isPolicy(v) && update(i, { policy: v })}
                allowDeselect={false}
                w={120}
              />
              <Select
                label={`Approver role for ${t.name}`}
                data={[...APPROVERS]}
                value={t.approverRole ?? null}
                onChange={(v) => update(i, { approverRole: isApprover(v) ? v : undefined })}
                disabled={t.policy !== 'ask'}
                placeholder="any approver"
                clearable
                w={190}
              />
              <Checkbox
                label={`${t.name}: a different person approves`}
                checked={t.distinctApprover ?? false}
                disabled={t.policy !== 'ask'}
                onChange={(e) => update(i, { distinctApprover: e.currentTarget.checked })}
                mb={8}
              />
              <ActionIcon
                variant="subtle"
                color="red"
                aria-label={`Remove tool ${t.name}`}
                onClick={() => setChosen(chosen.filter((_, j) => j !== i))}
                mb={4}
              >
                ×
              </ActionIcon>
            </Group>
          ))}
          <Group align="flex-end">
            <Select
              label="Add a tool"
              placeholder="Pick a tool"
              data={available}
              value={adding}
              onChange={setAdding}
              searchable
            />
            <Button
              variant="default"
              disabled={!adding}
              onClick={() => {
                if (adding) setChosen([...chosen, { name: adding, policy: 'ask' }]);
                setAdding(null);
              }}
            >
              Add tool
            </Button>
          </Group>
          <Group>
            <Button type="submit" loading={create.isPending}>
              Create agent
            </Button>
          </Group>
        </Stack>
      </form>
    </Card>
  );
}

/** A run's events, live: the server-sent event stream of GET /v1/runs/:id/events. */
function useRunEvents(runId: string | undefined): { events: RunEvent[]; error: unknown } {
  const [events, setEvents] = useState<RunEvent[]>([]);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    setEvents([]);
    setError(undefined);
    if (!runId) return;
    const abort = new AbortController();
    void (async () => {
      try {
        const res = await fetch(`/v1/runs/${encodeURIComponent(runId)}/events`, {
          headers: { accept: 'text/event-stream', ...authHeaders('GET') },
          credentials: 'same-origin',
          signal: abort.signal,
        });
        noteStatus(res.status, res.url);
        if (!res.ok || !res.body) throw problemOf(res.status, await res.json().catch(() => null));
        for await (const data of sseData(res.body)) {
          const event = JSON.parse(data) as RunEvent;
          setEvents((prev) => (prev.some((e) => e.seq === event.seq) ? prev : [...prev, event]));
        }
      } catch (err) {
        if (!abort.signal.aborted) setError(err);
      }
    })();
    return () => abort.abort();
  }, [runId]);
  return { events, error };
}

function summary(e: RunEvent): string {
  const d = (e.data ?? {}) as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of ['tool', 'name', 'content', 'status', 'reason', 'output', 'error']) {
    const v = d[key];
    if (typeof v === 'string' && v) parts.push(v.length > 160 ? `${v.slice(0, 160)}…` : v);
  }
  if (d.arguments !== undefined) parts.push(JSON.stringify(d.arguments));
  return parts.join(' · ');
}

function RunTimeline({ runId }: { runId: string }) {
  const { events, error } = useRunEvents(runId);
  const run = useQuery({
    queryKey: ['runs', runId, events.length],
    queryFn: () => must(api.GET('/v1/runs/{id}', { params: { path: { id: runId } } })),
  });
  return (
    <Card withBorder>
      <Group justify="space-between" mb="sm">
        <Title order={2} size="h3">
          Run <Code>{runId.slice(0, 8)}</Code>
        </Title>
        {run.data && (
          <Badge data-testid="run-status" variant="light">
            {run.data.status}
          </Badge>
        )}
      </Group>
      <ErrorAlert error={error ?? run.error} />
      <Timeline active={events.length - 1} bulletSize={14} lineWidth={2} data-testid="run-timeline">
        {events.map((e) => (
          <Timeline.Item key={e.seq} title={e.type} data-testid="run-event">
            <Text size="sm" c="dimmed">
              #{e.seq} · {new Date(e.createdAt).toLocaleTimeString()}
            </Text>
            <Text size="sm">{summary(e)}</Text>
          </Timeline.Item>
        ))}
      </Timeline>
      {events.length === 0 && !error && <Text c="dimmed">Waiting for the first event…</Text>}
      {run.data?.output !== undefined && run.data.output !== null && (
        <Code block mt="sm" tabIndex={0}>
          {typeof run.data.output === 'string'
            ? run.data.output
            : JSON.stringify(run.data.output, null, 2)}
        </Code>
      )}
    </Card>
  );
}

/** Agents: defined by admins, run by members, each run's events shown as they happen. */
export default function Agents() {
  const { can } = useSession();
  const client = useQueryClient();
  const agents = useQuery({ queryKey: ['agents'], queryFn: () => must(api.GET('/v1/agents')) });
  const [agentId, setAgentId] = useState<string | null>(null);
  const [input, setInput] = useState('');
  const [runId, setRunId] = useState<string>();
  const start = useMutation({
    mutationFn: () =>
      must(
        api.POST('/v1/agents/{id}/runs', {
          params: { path: { id: agentId ?? '' } },
          body: { input },
        }),
      ),
    onSuccess: (run) => {
      setRunId(run.id);
      void client.invalidateQueries({ queryKey: ['runs'] });
    },
  });
  const list = agents.data?.data ?? [];
  return (
    <Page
      title="Agents"
      intro="Agents call tools under per-tool policies; runs stream their events here."
    >
      <ErrorAlert error={agents.error} />
      <Table>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Agent</Table.Th>
            <Table.Th>Model</Table.Th>
            <Table.Th>Tools</Table.Th>
            <Table.Th>Max steps</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {list.map((a) => (
            <Table.Tr key={a.id} data-testid="agent-row">
              <Table.Td>{a.name}</Table.Td>
              <Table.Td>{a.model}</Table.Td>
              <Table.Td>
                {a.tools
                  .map(
                    (t) => `${t.name} (${t.policy}${t.approverRole ? `, ${t.approverRole}` : ''})`,
                  )
                  .join(', ') || '—'}
              </Table.Td>
              <Table.Td>{a.maxSteps}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {list.length === 0 && !agents.isPending && <Text c="dimmed">No agents yet.</Text>}
      <SimpleGrid cols={{ base: 1, lg: 2 }}>
        <Card withBorder>
          <Title order={2} size="h3" mb="sm">
            Start a run
          </Title>
          <ErrorAlert error={start.error} />
          <form
            onSubmit={(e) => {
              e.preventDefault();
              start.mutate();
            }}
          >
            <Stack>
              <Select
                label="Agent"
                placeholder="Pick an agent"
                data={list.map((a) => ({ value: a.id, label: a.name }))}
                value={agentId}
                onChange={setAgentId}
                required
              />
              <Textarea
                label="Task"
                value={input}
                onChange={(e) => setInput(e.currentTarget.value)}
                autosize
                minRows={2}
                required
              />
              <Group>
                <Button type="submit" loading={start.isPending} disabled={!agentId}>
                  Start run
                </Button>
              </Group>
            </Stack>
          </form>
        </Card>
        {runId ? <RunTimeline runId={runId} /> : <div />}
      </SimpleGrid>
      {can('agents:manage') && <DefineAgent onCreated={setAgentId} />}
    </Page>
  );
}
