import { Button, Card, Group, NumberInput, Select, Stack, Text, Textarea } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useRef, useState, type FormEvent } from 'react';
import { api, authHeaders, noteStatus } from '../api/client';
import { must, problemOf } from '../api/problem';
import { sseData } from '../api/sse';
import { useSession } from '../auth/session';
import { ErrorAlert } from '../components/Status';
import { Page } from '../components/Page';
import { chunkOf, priceFor, requestCostUsd, type ChunkParts } from './chat-usage';

interface Message {
  role: 'user' | 'assistant';
  content: string;
}
interface Stats {
  usage?: NonNullable<ChunkParts['usage']>;
  /** The upstream model that answered (the chunks' `model`). */
  model?: string;
  /** Time spent in Rampart rather than upstream (the gateway's x-rampart-overhead-ms). */
  overheadMs?: number;
  firstTokenMs?: number;
  totalMs: number;
}

function modelIds(body: unknown): string[] {
  if (typeof body !== 'object' || body === null || !('data' in body) || !Array.isArray(body.data))
    return [];
  return body.data.flatMap((m: unknown) =>
    typeof m === 'object' && m !== null && 'id' in m && typeof m.id === 'string' ? [m.id] : [],
  );
}

/**
 * The last request's tokens, cost, gateway overhead and timings. The cost is the gateway's
 * formula at the listed price of the model that answered; prices are readable with
 * gateway:manage, so others are pointed at the Usage page.
 */
function StatsLine({ stats }: { stats: Stats }) {
  const { can } = useSession();
  const prices = useQuery({
    queryKey: ['prices'],
    queryFn: () => must(api.GET('/v1/prices')),
    enabled: can('gateway:manage'),
  });
  const price = stats.model && prices.data ? priceFor(stats.model, prices.data.data) : undefined;
  const u = stats.usage;
  return (
    <Text size="sm" c="dimmed" data-testid="chat-stats">
      {u
        ? `${u.prompt_tokens} prompt + ${u.completion_tokens} completion tokens`
        : 'tokens not reported'}{' '}
      ·{' '}
      <span data-testid="chat-cost">
        {price && u
          ? `cost $${requestCostUsd(price, u).toFixed(6)} (${price.model} at $${price.input}/$${price.output} per M)`
          : 'cost on the Usage page'}
      </span>{' '}
      ·{' '}
      <span data-testid="chat-overhead">
        gateway overhead{' '}
        {stats.overheadMs === undefined ? '—' : `${stats.overheadMs.toFixed(1)} ms`}
      </span>{' '}
      · first token {stats.firstTokenMs ? `${Math.round(stats.firstTokenMs)} ms` : '—'} · total{' '}
      {Math.round(stats.totalMs)} ms
    </Text>
  );
}

/** A streamed conversation with any alias the caller may use, with its parameters and usage. */
export default function Chat() {
  const models = useQuery({
    queryKey: ['models'],
    queryFn: async () => {
      const { data, response } = await api.GET('/v1/models');
      if (!response.ok) throw problemOf(response.status, data);
      return modelIds(data);
    },
  });
  const [model, setModel] = useState<string | null>(null);
  const [temperature, setTemperature] = useState<number | string>(0.7);
  const [maxTokens, setMaxTokens] = useState<number | string>(512);
  const [messages, setMessages] = useState<Message[]>([]);
  const [draft, setDraft] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [stats, setStats] = useState<Stats>();
  const abort = useRef<AbortController>(null);
  const alias = model ?? models.data?.[0] ?? null;

  const send = async (e: FormEvent) => {
    e.preventDefault();
    if (!alias || !draft.trim()) return;
    const history: Message[] = [...messages, { role: 'user', content: draft }];
    setMessages([...history, { role: 'assistant', content: '' }]);
    setDraft('');
    setBusy(true);
    setError(undefined);
    const started = performance.now();
    const next: Stats = { totalMs: 0 };
    abort.current = new AbortController();
    try {
      const res = await fetch('/v1/chat/completions', {
        method: 'POST',
        credentials: 'same-origin',
        signal: abort.current.signal,
        headers: { 'content-type': 'application/json', ...authHeaders('POST') },
        body: JSON.stringify({
          model: alias,
          messages: history,
          stream: true,
          stream_options: { include_usage: true },
          ...(typeof temperature === 'number' ? { temperature } : {}),
          ...(typeof maxTokens === 'number' ? { max_tokens: maxTokens } : {}),
        }),
      });
      noteStatus(res.status, '/v1/chat/completions');
      const overhead = Number(res.headers.get('x-rampart-overhead-ms'));
      if (res.headers.has('x-rampart-overhead-ms') && Number.isFinite(overhead))
        next.overheadMs = overhead;
      if (!res.ok || !res.body)
        throw problemOf(res.status, await res.json().catch(() => undefined));
      for await (const data of sseData(res.body)) {
        if (data === '[DONE]') break;
        const { delta, usage, model: answered } = chunkOf(data);
        if (answered) next.model = answered;
        if (delta) {
          next.firstTokenMs ??= performance.now() - started;
          setMessages((m) =>
            m.map((x, i) => (i === m.length - 1 ? { ...x, content: x.content + delta } : x)),
          );
        }
        if (usage) next.usage = usage;
      }
    } catch (err) {
      if (!(err instanceof DOMException && err.name === 'AbortError')) setError(err);
    } finally {
      next.totalMs = performance.now() - started;
      setStats(next);
      setBusy(false);
    }
  };

  return (
    <Page
      title="Chat"
      intro="Streams through the gateway: routed, limited and metered like any call."
    >
      <Group align="flex-end">
        <Select
          label="Model alias"
          data={models.data ?? []}
          value={alias}
          onChange={setModel}
          placeholder={models.data?.length === 0 ? 'No alias yet: add a route' : undefined}
        />
        <NumberInput
          label="Temperature"
          min={0}
          max={2}
          step={0.1}
          decimalScale={2}
          value={temperature}
          onChange={setTemperature}
          w={130}
        />
        <NumberInput
          label="Max tokens"
          min={1}
          max={32000}
          value={maxTokens}
          onChange={setMaxTokens}
          w={130}
        />
        <Button variant="default" onClick={() => setMessages([])}>
          New conversation
        </Button>
      </Group>
      <ErrorAlert error={models.error ?? error} />
      <Stack data-testid="conversation">
        {messages.map((m, i) => (
          <Card
            key={i}
            withBorder
            bg={m.role === 'user' ? 'var(--mantine-color-default-hover)' : undefined}
          >
            <Text size="xs" c="dimmed" fw={700}>
              {m.role === 'user' ? 'You' : alias}
            </Text>
            <Text
              style={{ whiteSpace: 'pre-wrap' }}
              data-testid={m.role === 'assistant' ? 'assistant-message' : undefined}
            >
              {m.content}
            </Text>
          </Card>
        ))}
      </Stack>
      {stats && <StatsLine stats={stats} />}
      <form onSubmit={(e) => void send(e)}>
        <Stack>
          <Textarea
            label="Message"
            autosize
            minRows={2}
            value={draft}
            onChange={(e) => setDraft(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && !e.shiftKey) void send(e);
            }}
          />
          <Group>
            <Button type="submit" loading={busy} disabled={!alias}>
              Send
            </Button>
            {busy && (
              <Button variant="default" onClick={() => abort.current?.abort()}>
                Stop
              </Button>
            )}
          </Group>
        </Stack>
      </form>
    </Page>
  );
}
