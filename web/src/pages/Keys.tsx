import {
  Badge,
  Button,
  Card,
  Group,
  Modal,
  Select,
  Stack,
  Table,
  TagsInput,
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
import { LimitsFields } from '../components/LimitsFields';
import {
  describeLimits,
  draftOf,
  limitsOf,
  NO_LIMITS,
  type LimitsDraft,
} from '../components/limits';
import { ShownOnce } from '../components/ShownOnce';
import { ErrorAlert } from '../components/Status';
import { WideTable } from '../components/WideTable';
import { Page } from '../components/Page';

const ROLES = ['viewer', 'member', 'admin', 'owner'] as const;
type Role = (typeof ROLES)[number];
const isRole = (v: string | null): v is Role => ROLES.some((r) => r === v);
type Key =
  paths['/v1/api-keys']['get']['responses'][200]['content']['application/json']['data'][number];

/** The tenant's route aliases, offered as a key's models (a key may also name others). */
function useAliases(): string[] {
  const routes = useQuery({
    queryKey: ['routes'],
    queryFn: () => must(api.GET('/v1/routes')),
    retry: false,
  });
  return (routes.data?.data ?? []).map((r) => r.alias);
}

/** A key's model allow-list and own limits: the fields shared by create and edit. */
function PolicyFields({
  models,
  onModels,
  limits,
  onLimits,
}: {
  models: string[];
  onModels(m: string[]): void;
  limits: LimitsDraft;
  onLimits(l: LimitsDraft): void;
}) {
  const aliases = useAliases();
  return (
    <>
      <TagsInput
        label="Models"
        description="The aliases this key may call; empty: all of them."
        placeholder="every model"
        data={aliases}
        value={models}
        onChange={onModels}
        clearable
      />
      <Group align="flex-end">
        <LimitsFields value={limits} onChange={onLimits} />
      </Group>
      <Text size="xs" c="dimmed">
        The key&apos;s own limits, on top of the tenant&apos;s; an empty field is unlimited.
      </Text>
    </>
  );
}

/** Changes one key's models and limits (PATCH /v1/api-keys/:id). */
function EditKey({ apiKey, onClose }: { apiKey: Key; onClose(): void }) {
  const client = useQueryClient();
  const [models, setModels] = useState<string[]>(apiKey.models ?? []);
  const [limits, setLimits] = useState<LimitsDraft>(draftOf(apiKey.limits));
  const save = useMutation({
    mutationFn: () =>
      must(
        api.PATCH('/v1/api-keys/{id}', {
          params: { path: { id: apiKey.id } },
          // An empty list lifts the allow-list (null), rather than allowing nothing.
          body: { models: models.length ? models : null, limits: limitsOf(limits) },
        }),
      ),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ['api-keys'] });
      onClose();
    },
  });
  return (
    <Modal
      opened
      onClose={onClose}
      title={`Models and limits of ${apiKey.name}`}
      size="auto"
      closeButtonProps={{ 'aria-label': 'Close' }}
    >
      <form
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <Stack gap="sm">
          <ErrorAlert error={save.error} />
          <PolicyFields models={models} onModels={setModels} limits={limits} onLimits={setLimits} />
          <Group justify="flex-end">
            <Button variant="default" onClick={onClose}>
              Cancel
            </Button>
            <Button type="submit" loading={save.isPending}>
              Save key
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  );
}

/** API keys: create (the secret is shown once) with their models and limits, list, edit, revoke. */
export default function Keys() {
  const client = useQueryClient();
  const list = useQuery({ queryKey: ['api-keys'], queryFn: () => must(api.GET('/v1/api-keys')) });
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('member');
  const [models, setModels] = useState<string[]>([]);
  const [limits, setLimits] = useState<LimitsDraft>(NO_LIMITS);
  const [secret, setSecret] = useState<string>();
  const [editing, setEditing] = useState<Key>();
  const refresh = () => client.invalidateQueries({ queryKey: ['api-keys'] });
  const create = useMutation({
    mutationFn: () => {
      const own = limitsOf(limits);
      return must(
        api.POST('/v1/api-keys', {
          body: {
            name,
            role,
            ...(models.length ? { models } : {}),
            ...(Object.keys(own).length ? { limits: own } : {}),
          },
        }),
      );
    },
    onSuccess: (key) => {
      setSecret(key.secret);
      setName('');
      setModels([]);
      setLimits(NO_LIMITS);
      void refresh();
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => must(api.DELETE('/v1/api-keys/{id}', { params: { path: { id } } })),
    onSuccess: refresh,
  });
  return (
    <Page title="API keys" intro="Keys call the API as the role they were given.">
      {secret && (
        <ShownOnce
          label="The new key's secret: copy it now, it is not shown again"
          value={secret}
          onDone={() => setSecret(undefined)}
        />
      )}
      <ErrorAlert error={list.error ?? create.error ?? revoke.error} />
      <Card withBorder>
        <Title order={2} size="h3" mb="sm">
          New key
        </Title>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate();
          }}
        >
          <Stack gap="sm">
            <Group align="flex-end">
              <TextInput
                label="Key name"
                value={name}
                onChange={(e) => setName(e.currentTarget.value)}
                required
              />
              <Select
                label="Role"
                data={[...ROLES]}
                value={role}
                onChange={(v) => isRole(v) && setRole(v)}
                allowDeselect={false}
                w={130}
              />
            </Group>
            <PolicyFields
              models={models}
              onModels={setModels}
              limits={limits}
              onLimits={setLimits}
            />
            <Group>
              <Button type="submit" loading={create.isPending}>
                Create key
              </Button>
            </Group>
          </Stack>
        </form>
      </Card>
      <WideTable label="API keys" minWidth={900}>
        <Table striped>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th>Prefix</Table.Th>
              <Table.Th>Role</Table.Th>
              <Table.Th>Models</Table.Th>
              <Table.Th>Limits</Table.Th>
              <Table.Th>Created</Table.Th>
              <Table.Th>Expires</Table.Th>
              <Table.Th>Actions</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(list.data?.data ?? []).map((k) => (
              <Table.Tr key={k.id} data-testid="key-row">
                <Table.Td>{k.name}</Table.Td>
                <Table.Td>
                  <Text ff="monospace" size="sm">
                    {k.prefix}…
                  </Text>
                </Table.Td>
                <Table.Td>
                  <Badge variant="light">{k.role}</Badge>
                </Table.Td>
                <Table.Td data-testid="key-models">{k.models?.join(', ') ?? 'all'}</Table.Td>
                <Table.Td data-testid="key-limits">{describeLimits(k.limits)}</Table.Td>
                <Table.Td>{new Date(k.createdAt).toLocaleString()}</Table.Td>
                <Table.Td>
                  {k.expiresAt ? new Date(k.expiresAt).toLocaleString() : 'never'}
                </Table.Td>
                <Table.Td>
                  <RowActions
                    subject={`key ${k.name}`}
                    onEdit={() => setEditing(k)}
                    remove={{
                      verb: 'Revoke',
                      question: `Revoke key ${k.name}? Calls with it fail at once.`,
                      run: () => revoke.mutate(k.id),
                    }}
                  />
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </WideTable>
      {editing && <EditKey apiKey={editing} onClose={() => setEditing(undefined)} />}
    </Page>
  );
}
