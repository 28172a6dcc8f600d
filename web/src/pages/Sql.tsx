import {
  Accordion,
  Button,
  Card,
  Code,
  Group,
  Select,
  SimpleGrid,
  Stack,
  Table,
  Text,
  Textarea,
  Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { api } from '../api/client';
import { must } from '../api/problem';
import { useSession } from '../auth/session';
import { ErrorAlert } from '../components/Status';
import { Page } from '../components/Page';
import { chartData, chartPlan } from './sql-chart';
import { AnnotationsEditor, PoliciesEditor } from './SqlGovernance';

const COLORS = ['#2c3e9e', '#c2410c', '#1e6b30', '#6b2380'];

function Schema({ source }: { source: string }) {
  const schema = useQuery({
    queryKey: ['sql', 'schema', source],
    queryFn: () =>
      must(api.GET('/v1/sql/sources/{id}/schema', { params: { path: { id: source } } })),
  });
  return (
    <Card withBorder>
      <Title order={2} size="h4" mb="sm">
        Schema
      </Title>
      <ErrorAlert error={schema.error} />
      <Accordion multiple>
        {(schema.data?.tables ?? []).map((t) => (
          <Accordion.Item key={`${t.schema}.${t.name}`} value={`${t.schema}.${t.name}`}>
            <Accordion.Control>
              {t.name}{' '}
              <Text span size="sm" c="dimmed">
                ~{t.rowEstimate} rows
              </Text>
            </Accordion.Control>
            <Accordion.Panel>
              {(t.description ?? t.comment) && <Text size="sm">{t.description ?? t.comment}</Text>}
              {t.columns.map((c) => (
                <Text key={c.name} size="sm">
                  <Code>{c.name}</Code> {c.type}
                  {c.description ? ` — ${c.description}` : ''}
                </Text>
              ))}
            </Accordion.Panel>
          </Accordion.Item>
        ))}
      </Accordion>
    </Card>
  );
}

/** Ask a database a question: the SQL the model wrote, the rows, and a chart when one fits. */
export default function Sql() {
  const { can } = useSession();
  const client = useQueryClient();
  const sources = useQuery({
    queryKey: ['sql', 'sources'],
    queryFn: () => must(api.GET('/v1/sql/sources')),
  });
  const [picked, setPicked] = useState<string | null>(null);
  const [question, setQuestion] = useState('');
  const source = picked ?? sources.data?.data[0]?.name ?? null;
  const addSample = useMutation({
    mutationFn: () =>
      must(api.POST('/v1/sql/sources', { body: { name: 'sample', type: 'sample' } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ['sql', 'sources'] }),
  });
  const ask = useMutation({
    mutationFn: (q: string) =>
      must(api.POST('/v1/sql/ask', { body: { source: source ?? '', question: q } })),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (source && question.trim()) ask.mutate(question);
  };
  const result = ask.data;
  const plan = result ? chartPlan(result.columns, result.rows) : undefined;
  return (
    <Page
      title="SQL"
      intro="Questions become read-only SQL, checked before it runs, under your row filters and masks."
    >
      <ErrorAlert error={sources.error ?? addSample.error} />
      <Group align="flex-end">
        <Select
          label="Source"
          data={(sources.data?.data ?? []).map((s) => s.name)}
          value={source}
          onChange={setPicked}
          placeholder={sources.data?.data.length === 0 ? 'No source yet' : undefined}
        />
        {can('sql:manage') && sources.data?.data.length === 0 && (
          <Button
            variant="default"
            onClick={() => addSample.mutate()}
            loading={addSample.isPending}
          >
            Add the sample database
          </Button>
        )}
      </Group>
      <SimpleGrid cols={{ base: 1, lg: 3 }}>
        <Stack style={{ gridColumn: 'span 2' }}>
          <form onSubmit={submit}>
            <Stack>
              <Textarea
                label="Question"
                autosize
                minRows={2}
                value={question}
                onChange={(e) => setQuestion(e.currentTarget.value)}
              />
              <Group>
                <Button type="submit" loading={ask.isPending} disabled={!source}>
                  Ask
                </Button>
              </Group>
            </Stack>
          </form>
          <ErrorAlert error={ask.error} title="The question was refused or failed" />
          {result && (
            <Card withBorder data-testid="sql-result">
              <Stack>
                <Text>{result.explanation}</Text>
                <Code block data-testid="sql-text" tabIndex={0}>
                  {result.sql}
                </Code>
                <Text size="sm" c="dimmed">
                  {result.rowCount} rows{result.truncated ? ' (truncated)' : ''} · {result.attempts}{' '}
                  attempt(s) · {result.usage.promptTokens + result.usage.completionTokens} tokens
                </Text>
                {plan && (
                  <div
                    style={{ width: '100%', height: 280 }}
                    role="img"
                    aria-label="Chart of the result"
                    data-testid="sql-chart"
                  >
                    <ResponsiveContainer>
                      <BarChart data={chartData(plan, result.columns, result.rows)}>
                        <CartesianGrid strokeDasharray="3 3" />
                        <XAxis dataKey={result.columns[plan.label]?.name ?? ''} />
                        <YAxis />
                        <Tooltip />
                        {plan.values.map((i, n) => (
                          <Bar
                            key={i}
                            dataKey={result.columns[i]?.name ?? ''}
                            fill={COLORS[n % COLORS.length]}
                          />
                        ))}
                      </BarChart>
                    </ResponsiveContainer>
                  </div>
                )}
                <Table.ScrollContainer minWidth={400}>
                  <Table striped>
                    <Table.Thead>
                      <Table.Tr>
                        {result.columns.map((c) => (
                          <Table.Th key={c.name}>{c.name}</Table.Th>
                        ))}
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {result.rows.slice(0, 200).map((r, i) => (
                        <Table.Tr key={i}>
                          {r.map((v, j) => (
                            <Table.Td key={j}>{v === null ? '∅' : String(v)}</Table.Td>
                          ))}
                        </Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>
                </Table.ScrollContainer>
              </Stack>
            </Card>
          )}
        </Stack>
        {source && <Schema source={source} />}
      </SimpleGrid>
      {source && can('sql:manage') && (
        <SimpleGrid cols={{ base: 1, lg: 3 }}>
          <div style={{ gridColumn: 'span 2' }}>
            <PoliciesEditor source={source} />
          </div>
          <AnnotationsEditor source={source} />
        </SimpleGrid>
      )}
    </Page>
  );
}
