import {
  Badge,
  Button,
  Card,
  Group,
  NumberInput,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api } from '../api/client';
import { must } from '../api/problem';
import type { paths } from '../api/schema';
import { RowActions } from '../components/RowActions';
import { RowsEditor } from '../components/RowsEditor';
import { ErrorAlert } from '../components/Status';
import { shareOf } from './route-share';

type Route =
  paths['/v1/routes']['get']['responses'][200]['content']['application/json']['data'][number];
interface TargetRow {
  provider: string;
  model: string;
  weight: number | string;
}
interface FallbackRow {
  provider: string;
  model: string;
}

const blankTarget = (): TargetRow => ({ provider: '', model: '', weight: 1 });
const blankFallback = (): FallbackRow => ({ provider: '', model: '' });

/** Where one target or fallback goes: a provider and its model. */
function ProviderModelFields({
  label,
  providers,
  value,
  onChange,
}: {
  label: string;
  providers: string[];
  value: FallbackRow;
  onChange(patch: Partial<FallbackRow>): void;
}) {
  return (
    <>
      <Select
        label={`${label} provider`}
        placeholder="Pick a provider"
        data={providers}
        value={value.provider || null}
        onChange={(v) => onChange({ provider: v ?? '' })}
        required
        w={180}
      />
      <TextInput
        label={`${label} model`}
        value={value.model}
        onChange={(e) => onChange({ model: e.currentTarget.value })}
        required
        style={{ flex: 1 }}
      />
    </>
  );
}

/**
 * Routes from an alias to weighted targets (a canary is a small weight beside a large one) and
 * the fallbacks tried in order when the picked target fails. Editing an alias replaces its
 * targets and fallbacks (PUT) and keeps its response cache.
 */
export function Routes() {
  const client = useQueryClient();
  const list = useQuery({ queryKey: ['routes'], queryFn: () => must(api.GET('/v1/routes')) });
  const providers = useQuery({
    queryKey: ['providers'],
    queryFn: () => must(api.GET('/v1/providers')),
  });
  const [alias, setAlias] = useState('');
  const [editing, setEditing] = useState<Route>();
  const [targets, setTargets] = useState<TargetRow[]>([blankTarget()]);
  const [fallbacks, setFallbacks] = useState<FallbackRow[]>([]);
  const reset = () => {
    setEditing(undefined);
    setAlias('');
    setTargets([blankTarget()]);
    setFallbacks([]);
  };
  const edit = (r: Route) => {
    setEditing(r);
    setAlias(r.alias);
    setTargets(r.targets.map((t) => ({ ...t })));
    setFallbacks(r.fallbacks.map((f) => ({ ...f })));
  };
  const save = useMutation({
    mutationFn: () => {
      const body = {
        targets: targets.map((t) => ({
          provider: t.provider,
          model: t.model,
          weight: typeof t.weight === 'number' ? t.weight : 0,
        })),
        fallbacks,
      };
      return editing
        ? must(
            api.PUT('/v1/routes/{alias}', {
              params: { path: { alias: editing.alias } },
              body: { ...body, cache: editing.cache },
            }),
          )
        : must(api.POST('/v1/routes', { body: { alias, ...body } }));
    },
    onSuccess: () => {
      reset();
      void client.invalidateQueries({ queryKey: ['routes'] });
      void client.invalidateQueries({ queryKey: ['models'] });
    },
  });
  const remove = useMutation({
    mutationFn: (a: string) =>
      must(api.DELETE('/v1/routes/{alias}', { params: { path: { alias: a } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ['routes'] }),
  });
  const names = [
    ...(providers.data?.data ?? []).map((p) => p.name),
    ...(providers.data?.platform ?? []).map((p) => p.name),
  ];
  return (
    <Card withBorder>
      <Title order={2} size="h3" mb="sm">
        Routes
      </Title>
      <ErrorAlert error={list.error ?? save.error ?? remove.error} />
      <Table>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Alias</Table.Th>
            <Table.Th>Targets (weight, share)</Table.Th>
            <Table.Th>Fallbacks, in order</Table.Th>
            <Table.Th>Actions</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(list.data?.data ?? []).map((r) => (
            <Table.Tr key={r.alias} data-testid="route-row">
              <Table.Td>{r.alias}</Table.Td>
              <Table.Td>
                <Stack gap={2}>
                  {r.targets.map((t, i) => (
                    <Text size="sm" key={i} data-testid="route-target">
                      {t.provider}/{t.model}{' '}
                      <Badge variant="light" size="sm">
                        {t.weight} · {shareOf(t.weight, r.targets)}
                      </Badge>
                    </Text>
                  ))}
                </Stack>
              </Table.Td>
              <Table.Td data-testid="route-fallbacks">
                {r.fallbacks.map((t) => `${t.provider}/${t.model}`).join(' → ') || '—'}
              </Table.Td>
              <Table.Td>
                <RowActions
                  subject={`route ${r.alias}`}
                  onEdit={() => edit(r)}
                  remove={{
                    verb: 'Delete',
                    question: `Delete route ${r.alias}?`,
                    run: () => remove.mutate(r.alias),
                  }}
                />
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <Stack gap="xs" mt="md">
          <Title order={3} size="h4">
            {editing ? `Edit route ${editing.alias}` : 'New route'}
          </Title>
          <TextInput
            label="Alias"
            value={alias}
            onChange={(e) => setAlias(e.currentTarget.value)}
            disabled={!!editing}
            required
            w={260}
          />
          <Text size="sm" fw={500}>
            Targets: one is picked per request, in proportion to its weight
          </Text>
          <RowsEditor
            rows={targets}
            onChange={setTargets}
            blank={blankTarget}
            addLabel="Add target"
            removeLabel={(i) => `Remove target ${i + 1}`}
            testId="target-row"
            min={1}
          >
            {(t, i, set) => (
              <>
                <ProviderModelFields
                  label={`Target ${i + 1}`}
                  providers={names}
                  value={t}
                  onChange={set}
                />
                <NumberInput
                  label={`Target ${i + 1} weight`}
                  min={0}
                  max={10000}
                  allowDecimal={false}
                  value={t.weight}
                  onChange={(weight) => set({ weight })}
                  w={130}
                />
              </>
            )}
          </RowsEditor>
          <Text size="sm" fw={500}>
            Fallbacks: tried in order when the picked target fails
          </Text>
          <RowsEditor
            rows={fallbacks}
            onChange={setFallbacks}
            blank={blankFallback}
            addLabel="Add fallback"
            removeLabel={(i) => `Remove fallback ${i + 1}`}
            testId="fallback-row"
          >
            {(f, i, set) => (
              <>
                <ProviderModelFields
                  label={`Fallback ${i + 1}`}
                  providers={names}
                  value={f}
                  onChange={set}
                />
              </>
            )}
          </RowsEditor>
          <Group>
            <Button type="submit" loading={save.isPending}>
              {editing ? 'Save route' : 'Add route'}
            </Button>
            {editing && (
              <Button variant="default" onClick={reset}>
                Cancel
              </Button>
            )}
          </Group>
        </Stack>
      </form>
    </Card>
  );
}
