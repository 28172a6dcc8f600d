import { Button, Card, Group, SegmentedControl, Table, Text, Title } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { api } from '../api/client';
import { must } from '../api/problem';
import { useSession } from '../auth/session';
import { ErrorAlert } from '../components/Status';
import { WideTable } from '../components/WideTable';
import { Page } from '../components/Page';
import { downloadCsv, toCsv } from './csv';

type GroupBy = 'day' | 'key' | 'model';
const GROUPS: { value: GroupBy; label: string }[] = [
  { value: 'day', label: 'By day' },
  { value: 'key', label: 'By key' },
  { value: 'model', label: 'By model' },
];
const isGroupBy = (v: string): v is GroupBy => GROUPS.some((g) => g.value === v);
const COLUMNS = ['requests', 'prompt_tokens', 'completion_tokens', 'cached_tokens', 'cost_usd'];

/** Gateway usage and cost over the last 30 days by day, key or model, with a CSV download. */
export default function Usage() {
  const { can } = useSession();
  const [groupBy, setGroupBy] = useState<GroupBy>('day');
  const usage = useQuery({
    queryKey: ['usage', groupBy],
    queryFn: () => must(api.GET('/v1/usage', { params: { query: { groupBy } } })),
  });
  // Key names for those who may list keys; others see the key ids the usage rows carry.
  const keys = useQuery({
    queryKey: ['api-keys'],
    queryFn: () => must(api.GET('/v1/api-keys')),
    enabled: groupBy === 'key' && can('keys:manage'),
  });
  const names = new Map((keys.data?.data ?? []).map((k) => [k.id, k.name]));
  const bucketOf = (r: { day?: string; key_id?: string | null; model?: string | null }) =>
    groupBy === 'day'
      ? (r.day ?? '').slice(0, 10)
      : groupBy === 'key'
        ? r.key_id
          ? (names.get(r.key_id) ?? r.key_id)
          : 'session / no key'
        : (r.model ?? '—');
  const rows = (usage.data?.data ?? []).map((r) => [
    bucketOf(r),
    r.requests,
    r.prompt_tokens,
    r.completion_tokens,
    r.cached_tokens,
    r.cost_usd,
  ]);
  const header = [groupBy === 'key' ? 'key' : groupBy, ...COLUMNS];
  const range = usage.data
    ? `${usage.data.from.slice(0, 10)}_${usage.data.to.slice(0, 10)}`
    : 'usage';
  return (
    <Page
      title="Usage"
      intro="Gateway requests, tokens and cost over the last 30 days (UTC days)."
      actions={
        <Button
          variant="light"
          disabled={rows.length === 0}
          onClick={() => downloadCsv(`usage-by-${groupBy}-${range}.csv`, toCsv(header, rows))}
        >
          Download CSV
        </Button>
      }
    >
      <SegmentedControl
        aria-label="Group usage"
        data={GROUPS}
        value={groupBy}
        onChange={(v) => isGroupBy(v) && setGroupBy(v)}
        w="fit-content"
      />
      <ErrorAlert error={usage.error ?? keys.error} />
      <Card withBorder>
        <Title order={2} size="h3" mb="sm">
          Usage {GROUPS.find((g) => g.value === groupBy)?.label.toLowerCase()}
        </Title>
        <WideTable label="Usage table" minWidth={640}>
          <Table striped data-testid="usage-table">
            <Table.Thead>
              <Table.Tr>
                {header.map((h) => (
                  <Table.Th key={h}>{h}</Table.Th>
                ))}
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((r) => (
                <Table.Tr key={String(r[0])} data-testid="usage-row">
                  {r.map((v, i) => (
                    <Table.Td key={header[i]}>
                      {typeof v === 'number' && header[i] === 'cost_usd'
                        ? `$${v.toFixed(6)}`
                        : typeof v === 'number'
                          ? v.toLocaleString()
                          : v}
                    </Table.Td>
                  ))}
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </WideTable>
        {rows.length === 0 && !usage.isPending && (
          <Group mt="sm">
            <Text c="dimmed">No gateway traffic in this period.</Text>
          </Group>
        )}
      </Card>
    </Page>
  );
}
