import {
  ActionIcon,
  Alert,
  Button,
  Card,
  Code,
  Group,
  Loader,
  MultiSelect,
  Select,
  Stack,
  Text,
  Textarea,
  TextInput,
  Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { api } from '../api/client';
import { must } from '../api/problem';
import type { paths } from '../api/schema';
import { RowsEditor } from '../components/RowsEditor';
import { ErrorAlert } from '../components/Status';

type Policies =
  paths['/v1/sql/sources/{id}/policies']['put']['responses'][200]['content']['application/json'];
type RowFilter = Policies['rowFilters'][number];
type Mask = Policies['masks'][number];

function useCatalogue(source: string) {
  return useQuery({
    queryKey: ['sql', 'schema', source],
    queryFn: () =>
      must(api.GET('/v1/sql/sources/{id}/schema', { params: { path: { id: source } } })),
  });
}

/** Descriptions of tables and columns the model reads with every question (sql:manage). */
export function AnnotationsEditor({ source }: { source: string }) {
  const client = useQueryClient();
  const schema = useCatalogue(source);
  const notes = useQuery({
    queryKey: ['sql', 'annotations', source],
    queryFn: () =>
      must(api.GET('/v1/sql/sources/{id}/annotations', { params: { path: { id: source } } })),
  });
  const [target, setTarget] = useState<string | null>(null);
  const [text, setText] = useState('');
  const save = useMutation({
    mutationFn: (next: { tables: Record<string, string>; columns: Record<string, string> }) =>
      must(
        api.PUT('/v1/sql/sources/{id}/annotations', {
          params: { path: { id: source } },
          body: { ...next, examples: notes.data?.examples ?? [] },
        }),
      ),
    onSuccess: (saved) => {
      client.setQueryData(['sql', 'annotations', source], saved);
      void client.invalidateQueries({ queryKey: ['sql', 'schema', source] });
      setTarget(null);
      setText('');
    },
  });
  const tables = notes.data?.tables ?? {};
  const columns = notes.data?.columns ?? {};
  const targets = (schema.data?.tables ?? []).flatMap((t) => [
    t.name,
    ...t.columns.map((c) => `${t.name}.${c.name}`),
  ]);
  const write = (key: string, value: string | undefined) => {
    const isColumn = key.includes('.');
    const next = { tables: { ...tables }, columns: { ...columns } };
    const map = isColumn ? next.columns : next.tables;
    if (value) map[key] = value;
    else delete map[key];
    save.mutate(next);
  };
  const current = [
    ...Object.entries(tables).map(([k, v]) => [k, v] as const),
    ...Object.entries(columns).map(([k, v]) => [k, v] as const),
  ];
  return (
    <Card withBorder>
      <Title order={2} size="h4" mb="xs">
        Annotations
      </Title>
      <Text size="sm" c="dimmed" mb="xs">
        Shown in the schema browser and given to the model with every question.
      </Text>
      <ErrorAlert error={notes.error ?? save.error} />
      <Stack gap={4}>
        {current.map(([k, v]) => (
          <Group key={k} justify="space-between" wrap="nowrap" data-testid="annotation">
            <Text size="sm">
              <Code>{k}</Code> {v}
            </Text>
            <ActionIcon
              variant="subtle"
              color="red"
              aria-label={`Remove the annotation of ${k}`}
              onClick={() => write(k, undefined)}
            >
              ×
            </ActionIcon>
          </Group>
        ))}
      </Stack>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (target && text.trim()) write(target, text.trim());
        }}
      >
        <Stack gap="xs" mt="sm">
          <Select
            label="Table or column"
            data={targets}
            value={target}
            onChange={(v) => {
              setTarget(v);
              setText(v ? (tables[v] ?? columns[v] ?? '') : '');
            }}
            searchable
          />
          <Textarea
            label="Description"
            value={text}
            onChange={(e) => setText(e.currentTarget.value)}
            autosize
            minRows={1}
          />
          <Group>
            <Button type="submit" size="sm" disabled={!target} loading={save.isPending}>
              Save annotation
            </Button>
          </Group>
        </Stack>
      </form>
    </Card>
  );
}

/** Row filters per group and column masks for one source (sql:manage). */
export function PoliciesEditor({ source }: { source: string }) {
  const client = useQueryClient();
  const schema = useCatalogue(source);
  const groups = useQuery({ queryKey: ['groups'], queryFn: () => must(api.GET('/v1/groups')) });
  const stored = useQuery({
    queryKey: ['sql', 'policies', source],
    queryFn: () =>
      must(api.GET('/v1/sql/sources/{id}/policies', { params: { path: { id: source } } })),
  });
  const [filters, setFilters] = useState<RowFilter[]>([]);
  const [masks, setMasks] = useState<Mask[]>([]);
  useEffect(() => {
    if (!stored.data) return;
    setFilters(stored.data.rowFilters);
    setMasks(stored.data.masks);
  }, [stored.data]);
  const save = useMutation({
    mutationFn: () =>
      must(
        api.PUT('/v1/sql/sources/{id}/policies', {
          params: { path: { id: source } },
          body: { rowFilters: filters, masks },
        }),
      ),
    onSuccess: (p) => client.setQueryData(['sql', 'policies', source], p),
  });
  const tableNames = (schema.data?.tables ?? []).map((t) => t.name);
  const columnsOf = (table: string) =>
    schema.data?.tables.find((t) => t.name === table)?.columns.map((c) => c.name) ?? [];
  const groupNames = (groups.data?.data ?? []).map((g) => g.name);
  return (
    <Card withBorder>
      <Title order={2} size="h4" mb="xs">
        Row filters and column masks
      </Title>
      <Text size="sm" c="dimmed" mb="xs">
        A member of a group sees only the rows its filter keeps; a masked column reads as NULL
        except for the groups named. Every query is rewritten on its parse tree.
      </Text>
      <ErrorAlert error={stored.error ?? groups.error} />
      <ErrorAlert error={save.error} title="The policies were refused" />
      {save.isSuccess && (
        <Alert color="green" role="status" py="xs" mb="sm">
          Policies saved.
        </Alert>
      )}
      {/* The form waits for the stored policies: rows added before they load would be replaced. */}
      {!stored.data ? (
        !stored.error && <Loader size="sm" aria-label="Loading the policies" />
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate();
          }}
        >
          <Stack gap="xs">
            <Title order={3} size="h5">
              Row filters
            </Title>
            <RowsEditor
              rows={filters}
              onChange={setFilters}
              blank={() => ({ table: '', group: '', where: '' })}
              addLabel="Add row filter"
              removeLabel={(i) => `Remove filter ${i + 1}`}
              testId="row-filter"
            >
              {(f, i, set) => (
                <>
                  <Select
                    label={`Filter ${i + 1} table`}
                    data={tableNames}
                    value={f.table || null}
                    onChange={(v) => set({ table: v ?? '' })}
                    w={130}
                  />
                  <Select
                    label={`Filter ${i + 1} group`}
                    data={groupNames}
                    value={f.group || null}
                    onChange={(v) => set({ group: v ?? '' })}
                    w={120}
                  />
                  <TextInput
                    label={`Filter ${i + 1} condition`}
                    placeholder="city_name = 'Paris'"
                    value={f.where}
                    onChange={(e) => set({ where: e.currentTarget.value })}
                    style={{ flex: 1 }}
                  />
                </>
              )}
            </RowsEditor>
            <Title order={3} size="h5">
              Column masks
            </Title>
            <RowsEditor
              rows={masks}
              onChange={setMasks}
              blank={() => ({ table: '', column: '', exceptGroups: [] })}
              addLabel="Add column mask"
              removeLabel={(i) => `Remove mask ${i + 1}`}
              testId="column-mask"
            >
              {(m, i, set) => (
                <>
                  <Select
                    label={`Mask ${i + 1} table`}
                    data={tableNames}
                    value={m.table || null}
                    onChange={(v) => set({ table: v ?? '', column: '' })}
                    w={130}
                  />
                  <Select
                    label={`Mask ${i + 1} column`}
                    data={columnsOf(m.table)}
                    value={m.column || null}
                    onChange={(v) => set({ column: v ?? '' })}
                    w={130}
                  />
                  <MultiSelect
                    label={`Mask ${i + 1} visible to`}
                    placeholder="nobody"
                    data={groupNames}
                    value={m.exceptGroups}
                    onChange={(v) => set({ exceptGroups: v })}
                    style={{ flex: 1 }}
                  />
                </>
              )}
            </RowsEditor>
            <Group>
              <Button type="submit" loading={save.isPending}>
                Save policies
              </Button>
            </Group>
          </Stack>
        </form>
      )}
    </Card>
  );
}
