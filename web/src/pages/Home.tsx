import { Badge, Card, Group, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import {
  Area,
  AreaChart,
  CartesianGrid,
  Legend,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { api } from '../api/client';
import { must } from '../api/problem';
import { useSession } from '../auth/session';
import { ErrorAlert } from '../components/Status';
import { Page } from '../components/Page';

const usd = (n: number) => `$${n.toFixed(n < 1 ? 4 : 2)}`;

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <Card withBorder data-testid={`stat-${label.toLowerCase()}`}>
      <Text size="sm" c="dimmed">
        {label}
      </Text>
      <Text size="xl" fw={700}>
        {value}
      </Text>
    </Card>
  );
}

/** The five rows with the highest cost (then requests): top models, top keys. */
function TopTable({
  title,
  column,
  testId,
  rows,
}: {
  title: string;
  column: string;
  testId: string;
  rows: { name: string; requests: number; cost_usd: number }[];
}) {
  return (
    <Card withBorder>
      <Title order={2} size="h4" mb="sm">
        {title}
      </Title>
      <Table>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>{column}</Table.Th>
            <Table.Th>Requests</Table.Th>
            <Table.Th>Cost</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {[...rows]
            .sort((a, b) => b.cost_usd - a.cost_usd || b.requests - a.requests)
            .slice(0, 5)
            .map((r, i) => (
              <Table.Tr key={`${i}:${r.name}`} data-testid={testId}>
                <Table.Td>{r.name}</Table.Td>
                <Table.Td>{r.requests}</Table.Td>
                <Table.Td>{usd(r.cost_usd)}</Table.Td>
              </Table.Tr>
            ))}
        </Table.Tbody>
      </Table>
    </Card>
  );
}

/**
 * Usage, errors and cost over the last 30 days, top models and keys, documents by status, runs
 * waiting for approval.
 */
export default function Home() {
  const { can } = useSession();
  const byDay = useQuery({
    queryKey: ['usage', 'day'],
    queryFn: () => must(api.GET('/v1/usage', { params: { query: { groupBy: 'day' } } })),
  });
  const byModel = useQuery({
    queryKey: ['usage', 'model'],
    queryFn: () => must(api.GET('/v1/usage', { params: { query: { groupBy: 'model' } } })),
  });
  const byKey = useQuery({
    queryKey: ['usage', 'key'],
    queryFn: () => must(api.GET('/v1/usage', { params: { query: { groupBy: 'key' } } })),
  });
  // Errors come from the daily rollups (the usage ledger's KPIs), which lag it by up to
  // ANALYTICS_ROLLUP_INTERVAL_MS.
  const kpis = useQuery({
    queryKey: ['kpis', 'day'],
    queryFn: () => must(api.GET('/v1/analytics/kpis', { params: { query: { groupBy: 'day' } } })),
  });
  const keys = useQuery({
    queryKey: ['api-keys'],
    queryFn: () => must(api.GET('/v1/api-keys')),
    enabled: can('keys:manage'),
  });
  const keyName = (id: string | null | undefined) =>
    id
      ? (keys.data?.data.find((k) => k.id === id)?.name ?? `key ${id.slice(0, 8)}`)
      : 'signed-in people (no key)';
  const docs = useQuery({
    queryKey: ['documents', 'home'],
    queryFn: () => must(api.GET('/v1/documents', { params: { query: { limit: 100 } } })),
    enabled: can('documents:read'),
  });
  const waiting = useQuery({
    queryKey: ['runs', 'awaiting_approval'],
    queryFn: () =>
      must(api.GET('/v1/runs', { params: { query: { status: 'awaiting_approval', limit: 50 } } })),
    enabled: can('agents:approve'),
  });
  const errorsOn = new Map(
    (kpis.data?.data ?? []).map((d) => [(d.day ?? '').slice(0, 10), d.errors]),
  );
  const days = (byDay.data?.data ?? []).map((d) => {
    const day = (d.day ?? '').slice(0, 10);
    return {
      day,
      requests: d.requests,
      errors: errorsOn.get(day) ?? 0,
      tokens: d.prompt_tokens + d.completion_tokens,
      cost: d.cost_usd,
    };
  });
  const totals = days.reduce(
    (t, d) => ({
      requests: t.requests + d.requests,
      tokens: t.tokens + d.tokens,
      cost: t.cost + d.cost,
    }),
    { requests: 0, tokens: 0, cost: 0 },
  );
  const statusCounts = new Map<string, number>();
  for (const d of docs.data?.data ?? [])
    statusCounts.set(d.status, (statusCounts.get(d.status) ?? 0) + 1);

  return (
    <Page title="Home" intro="Your tenant over the last 30 days.">
      <ErrorAlert
        error={
          byDay.error ?? byModel.error ?? byKey.error ?? kpis.error ?? docs.error ?? waiting.error
        }
      />
      <SimpleGrid cols={{ base: 2, sm: 4 }}>
        <Stat label="Requests" value={totals.requests.toLocaleString()} />
        <Stat label="Errors" value={(kpis.data?.totals.errors ?? 0).toLocaleString()} />
        <Stat label="Tokens" value={totals.tokens.toLocaleString()} />
        <Stat label="Cost" value={usd(totals.cost)} />
      </SimpleGrid>
      <Card withBorder>
        <Title order={2} size="h4" mb="sm">
          Requests, errors and cost by day
        </Title>
        {days.length === 0 ? (
          <Text c="dimmed">No gateway traffic in this period yet.</Text>
        ) : (
          <div
            style={{ width: '100%', height: 260 }}
            role="img"
            aria-label="Requests, errors and cost by day"
          >
            <ResponsiveContainer>
              <AreaChart data={days}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="day" />
                <YAxis yAxisId="r" allowDecimals={false} />
                <YAxis
                  yAxisId="c"
                  orientation="right"
                  tickFormatter={(v: number) => `$${v.toPrecision(2)}`}
                />
                <Tooltip />
                <Legend />
                <Area
                  yAxisId="r"
                  type="monotone"
                  dataKey="requests"
                  stroke="#4c6ef5"
                  fill="#4c6ef533"
                />
                <Area
                  yAxisId="r"
                  type="monotone"
                  dataKey="errors"
                  stroke="#c92a2a"
                  fill="#c92a2a22"
                />
                <Area
                  yAxisId="c"
                  type="monotone"
                  dataKey="cost"
                  stroke="#e8590c"
                  fill="#e8590c22"
                />
              </AreaChart>
            </ResponsiveContainer>
          </div>
        )}
      </Card>
      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <TopTable
          title="Top models"
          column="Model"
          testId="top-model"
          rows={(byModel.data?.data ?? []).map((m) => ({ ...m, name: m.model ?? '—' }))}
        />
        <TopTable
          title="Top keys"
          column="Key"
          testId="top-key"
          rows={(byKey.data?.data ?? []).map((k) => ({ ...k, name: keyName(k.key_id) }))}
        />
        <Card withBorder>
          <Title order={2} size="h4" mb="sm">
            Documents by status
          </Title>
          <Stack gap="xs">
            {(['queued', 'processing', 'ready', 'failed'] as const).map((s) => (
              <Group key={s} justify="space-between">
                <Text>{s}</Text>
                <Badge
                  variant="light"
                  color={s === 'failed' ? 'red' : s === 'ready' ? 'green' : 'blue'}
                >
                  {statusCounts.get(s) ?? 0}
                </Badge>
              </Group>
            ))}
            <Text size="sm" c="dimmed">
              Of the latest {docs.data?.data.length ?? 0}.{' '}
              <Link to="/documents">All documents</Link>
            </Text>
          </Stack>
        </Card>
        <Card withBorder>
          <Title order={2} size="h4" mb="sm">
            Runs awaiting approval
          </Title>
          {!can('agents:approve') ? (
            <Text c="dimmed">Approvals are for admins.</Text>
          ) : (
            <Stack gap="xs">
              <Text size="xl" fw={700}>
                {waiting.data?.data.length ?? 0}
              </Text>
              <Link to="/approvals">Open the approvals inbox</Link>
            </Stack>
          )}
        </Card>
      </SimpleGrid>
    </Page>
  );
}
