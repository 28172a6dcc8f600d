import { Anchor, Badge, Card, Group, Stack, Text } from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import { useEffect } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { api } from '../api/client';
import { must } from '../api/problem';
import { ErrorAlert } from '../components/Status';
import { Page } from '../components/Page';
import { StatusBadge } from './Documents';

/** One document: its status and the chunks as indexed, opened at ?page= or #chunk. */
export default function DocumentView() {
  const { id = '' } = useParams();
  const [search] = useSearchParams();
  const page = Number(search.get('page')) || undefined;
  const chunk = search.get('chunk') ?? undefined;
  const doc = useQuery({
    queryKey: ['document', id],
    queryFn: () => must(api.GET('/v1/documents/{id}', { params: { path: { id } } })),
  });
  const chunks = useQuery({
    queryKey: ['document', id, 'chunks'],
    queryFn: () => must(api.GET('/v1/documents/{id}/chunks', { params: { path: { id } } })),
  });
  const cited = (c: { id: string; pageFrom: number | null; pageTo: number | null }) =>
    c.id === chunk ||
    (chunk === undefined &&
      page !== undefined &&
      c.pageFrom !== null &&
      c.pageFrom <= page &&
      (c.pageTo ?? c.pageFrom) >= page);
  const firstCited = chunks.data?.data.find(cited)?.id;
  useEffect(() => {
    if (firstCited)
      document.getElementById(`chunk-${firstCited}`)?.scrollIntoView({ block: 'center' });
  }, [firstCited]);

  return (
    <Page
      title={doc.data?.title ?? 'Document'}
      intro={page ? `Opened at page ${page}.` : undefined}
      actions={
        <Anchor component={Link} to="/documents">
          All documents
        </Anchor>
      }
    >
      <ErrorAlert error={doc.error ?? chunks.error} />
      {doc.data && (
        <Group>
          <StatusBadge status={doc.data.status} />
          <Text size="sm">{doc.data.sourceType}</Text>
          <Text size="sm">{doc.data.pageCount ?? '—'} pages</Text>
          <Text size="sm">{doc.data.chunkCount} chunks</Text>
          {doc.data.tags.map((t) => (
            <Badge key={t} variant="outline">
              {t}
            </Badge>
          ))}
          {doc.data.failureReason && <Text c="red">{doc.data.failureReason}</Text>}
        </Group>
      )}
      <Stack>
        {(chunks.data?.data ?? []).map((c) => (
          <Card
            key={c.id}
            id={`chunk-${c.id}`}
            withBorder
            data-cited={cited(c) || undefined}
            style={
              cited(c)
                ? { borderColor: 'var(--mantine-primary-color-filled)', borderWidth: 2 }
                : undefined
            }
          >
            <Text size="xs" c="dimmed" mb={4}>
              #{c.ordinal}
              {c.pageFrom !== null &&
                ` · page ${c.pageFrom}${c.pageTo && c.pageTo !== c.pageFrom ? `–${c.pageTo}` : ''}`}
              {c.headingPath.length > 0 && ` · ${c.headingPath.join(' › ')}`}
            </Text>
            <Text style={{ whiteSpace: 'pre-wrap' }}>{c.text}</Text>
          </Card>
        ))}
      </Stack>
    </Page>
  );
}
