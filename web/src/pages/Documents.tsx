import {
  Badge,
  Button,
  Card,
  Group,
  Progress,
  Stack,
  Table,
  Text,
  TextInput,
  Tooltip,
  VisuallyHidden,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useRef, useState, type DragEvent } from 'react';
import { Link } from 'react-router';
import { api } from '../api/client';
import { messageOf, must } from '../api/problem';
import { uploadDocument } from '../api/upload';
import { useSession } from '../auth/session';
import { ErrorAlert } from '../components/Status';
import { Page } from '../components/Page';

interface Upload {
  name: string;
  progress: number;
  state: 'uploading' | 'accepted' | 'failed';
  error?: string;
}

const STATUS_COLOR: Record<string, string> = {
  queued: 'gray',
  processing: 'blue',
  ready: 'green',
  failed: 'red',
};

export function StatusBadge({ status }: { status: string }) {
  return (
    <Badge color={STATUS_COLOR[status] ?? 'gray'} variant="light">
      {status}
    </Badge>
  );
}

/** Upload many files with per-file progress; the list refreshes until every one has settled. */
export default function Documents() {
  const { can } = useSession();
  const client = useQueryClient();
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [tags, setTags] = useState('');
  const [groups, setGroups] = useState('');
  const [dragging, setDragging] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const list = useQuery({
    queryKey: ['documents'],
    queryFn: () => must(api.GET('/v1/documents', { params: { query: { limit: 100 } } })),
    refetchInterval: (q) =>
      q.state.data?.data.some((d) => d.status === 'queued' || d.status === 'processing')
        ? 1500
        : false,
  });
  const remove = useMutation({
    mutationFn: (id: string) =>
      must(api.DELETE('/v1/documents/{id}', { params: { path: { id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ['documents'] }),
  });

  const send = (files: FileList | File[]) => {
    const start = uploads.length;
    const batch = [...files];
    setUploads((u) => [
      ...u,
      ...batch.map((f) => ({ name: f.name, progress: 0, state: 'uploading' as const })),
    ]);
    const patch = (i: number, p: Partial<Upload>) =>
      setUploads((u) => u.map((x, j) => (j === start + i ? { ...x, ...p } : x)));
    batch.forEach((file, i) => {
      uploadDocument(file, { tags, groups }, (progress) => patch(i, { progress }))
        .then(() => {
          patch(i, { progress: 1, state: 'accepted' });
          void client.invalidateQueries({ queryKey: ['documents'] });
        })
        .catch((err: unknown) => patch(i, { state: 'failed', error: messageOf(err) }));
    });
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    if (e.dataTransfer.files.length) send(e.dataTransfer.files);
  };

  return (
    <Page title="Documents" intro="PDF, Word, HTML, Markdown and text, searchable once ready.">
      {can('documents:write') && (
        <Card withBorder>
          <Stack>
            <Group grow>
              <TextInput
                label="Tags (comma-separated)"
                value={tags}
                onChange={(e) => setTags(e.currentTarget.value)}
              />
              <TextInput
                label="Groups that may read (none: everyone)"
                value={groups}
                onChange={(e) => setGroups(e.currentTarget.value)}
              />
            </Group>
            <div
              onDragOver={(e) => {
                e.preventDefault();
                setDragging(true);
              }}
              onDragLeave={() => setDragging(false)}
              onDrop={onDrop}
              style={{
                border: '2px dashed var(--mantine-color-default-border)',
                borderColor: dragging ? 'var(--mantine-primary-color-filled)' : undefined,
                borderRadius: 8,
                padding: 24,
                textAlign: 'center',
              }}
            >
              <Text mb="sm">Drop files here, or</Text>
              <Button onClick={() => input.current?.click()}>Choose files</Button>
              <input
                ref={input}
                type="file"
                multiple
                hidden
                aria-label="Files to upload"
                onChange={(e) => {
                  if (e.currentTarget.files?.length) send(e.currentTarget.files);
                  e.currentTarget.value = '';
                }}
              />
            </div>
            {uploads.map((u, i) => (
              <div key={i} data-testid="upload">
                <Group justify="space-between">
                  <Text size="sm">{u.name}</Text>
                  <Text size="sm" c={u.state === 'failed' ? 'red' : 'dimmed'}>
                    {u.state === 'failed'
                      ? u.error
                      : u.state === 'accepted'
                        ? 'uploaded'
                        : `${Math.round(u.progress * 100)}%`}
                  </Text>
                </Group>
                <Progress
                  value={u.progress * 100}
                  color={u.state === 'failed' ? 'red' : undefined}
                  aria-label={`Upload of ${u.name}`}
                />
              </div>
            ))}
          </Stack>
        </Card>
      )}
      <ErrorAlert error={list.error ?? remove.error} />
      <Table striped highlightOnHover>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Title</Table.Th>
            <Table.Th>Status</Table.Th>
            <Table.Th>Pages</Table.Th>
            <Table.Th>Chunks</Table.Th>
            <Table.Th>Tags</Table.Th>
            <Table.Th>Groups</Table.Th>
            <Table.Th>
              <VisuallyHidden>Actions</VisuallyHidden>
            </Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(list.data?.data ?? []).map((d) => (
            <Table.Tr key={d.id} data-testid="document-row">
              <Table.Td>
                <Link to={`/documents/${d.id}`}>{d.title}</Link>
              </Table.Td>
              <Table.Td>
                {d.failureReason ? (
                  <Tooltip label={d.failureReason}>
                    <span>
                      <StatusBadge status={d.status} />
                    </span>
                  </Tooltip>
                ) : (
                  <StatusBadge status={d.status} />
                )}
                {d.failureReason && (
                  <Text size="xs" c="red">
                    {d.failureReason}
                  </Text>
                )}
              </Table.Td>
              <Table.Td>{d.pageCount ?? '—'}</Table.Td>
              <Table.Td>{d.chunkCount}</Table.Td>
              <Table.Td>{d.tags.join(', ')}</Table.Td>
              <Table.Td>{d.groups.join(', ') || 'everyone'}</Table.Td>
              <Table.Td>
                {can('documents:delete') && (
                  <Button
                    size="xs"
                    variant="subtle"
                    color="red"
                    aria-label={`Delete ${d.title}`}
                    loading={remove.isPending && remove.variables === d.id}
                    onClick={() => {
                      if (window.confirm(`Delete “${d.title}” and its chunks?`))
                        remove.mutate(d.id);
                    }}
                  >
                    Delete
                  </Button>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {list.data?.data.length === 0 && <Text c="dimmed">No documents yet.</Text>}
    </Page>
  );
}
