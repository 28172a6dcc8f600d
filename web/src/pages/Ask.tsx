import {
  Anchor,
  Badge,
  Button,
  Card,
  Group,
  SegmentedControl,
  Stack,
  Text,
  Textarea,
} from '@mantine/core';
import { useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { api } from '../api/client';
import { must } from '../api/problem';
import { ErrorAlert } from '../components/Status';
import { Page } from '../components/Page';

type Mode = 'ask' | 'hybrid' | 'vector' | 'keyword';

const docLink = (documentId: string, page: number | null, chunkId: string) =>
  `/documents/${documentId}?${new URLSearchParams({ ...(page ? { page: String(page) } : {}), chunk: chunkId })}`;

/** Search (hybrid, vector or keyword, with scores) or ask (an answer with citations). */
export default function Ask() {
  const [mode, setMode] = useState<Mode>('ask');
  const [text, setText] = useState('');
  const ask = useMutation({
    mutationFn: (question: string) => must(api.POST('/v1/ask', { body: { question } })),
  });
  const search = useMutation({
    mutationFn: (v: { query: string; mode: Exclude<Mode, 'ask'> }) =>
      must(api.POST('/v1/search', { body: { query: v.query, mode: v.mode, k: 10 } })),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!text.trim()) return;
    if (mode === 'ask') ask.mutate(text);
    else search.mutate({ query: text, mode });
  };
  return (
    <Page title="Search and ask" intro="Questions are answered from the documents you may read.">
      <form onSubmit={submit}>
        <Stack>
          <SegmentedControl
            aria-label="Mode"
            value={mode}
            onChange={(v) => setMode(v as Mode)}
            data={[
              { value: 'ask', label: 'Ask' },
              { value: 'hybrid', label: 'Search: hybrid' },
              { value: 'vector', label: 'Vector' },
              { value: 'keyword', label: 'Keyword' },
            ]}
          />
          <Textarea
            label={mode === 'ask' ? 'Question' : 'Query'}
            autosize
            minRows={2}
            value={text}
            onChange={(e) => setText(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey) submit(e);
            }}
          />
          <Group>
            <Button type="submit" loading={ask.isPending || search.isPending}>
              {mode === 'ask' ? 'Ask' : 'Search'}
            </Button>
          </Group>
        </Stack>
      </form>
      <ErrorAlert error={mode === 'ask' ? ask.error : search.error} />
      {mode === 'ask' && ask.data && (
        <Card withBorder data-testid="answer">
          <Group mb="xs">
            <Badge variant="light">{ask.data.mode}</Badge>
            {ask.data.warning && <Text c="red.9">{ask.data.warning}</Text>}
          </Group>
          <Text style={{ whiteSpace: 'pre-wrap' }}>{ask.data.answer}</Text>
          <Text fw={700} mt="md">
            Citations
          </Text>
          <Stack gap="xs">
            {ask.data.citations.map((c, i) => (
              <div key={c.chunkId}>
                <Anchor
                  component={Link}
                  to={docLink(c.documentId, c.page, c.chunkId)}
                  data-testid="citation"
                >
                  [{i + 1}] {c.title}
                  {c.page ? `, page ${c.page}` : ''}
                </Anchor>
                <Text size="sm" c="dimmed">
                  {c.snippet}
                </Text>
              </div>
            ))}
          </Stack>
        </Card>
      )}
      {mode !== 'ask' && search.data && (
        <Stack>
          {search.data.data.length === 0 && <Text c="dimmed">No hits.</Text>}
          {search.data.data.map((h) => (
            <Card key={h.chunkId} withBorder data-testid="search-hit">
              <Group justify="space-between">
                <Anchor component={Link} to={docLink(h.documentId, h.page, h.chunkId)}>
                  {h.title}
                  {h.page ? `, page ${h.page}` : ''}
                </Anchor>
                <Badge variant="outline">score {h.score.toFixed(3)}</Badge>
              </Group>
              <Text size="sm" lineClamp={4}>
                {h.text}
              </Text>
            </Card>
          ))}
        </Stack>
      )}
    </Page>
  );
}
