import { Badge, Button, Card, Group, Select, Table, Text, TextInput } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api } from '../api/client';
import { must } from '../api/problem';
import { confirmed } from '../components/Confirm';
import { ShownOnce } from '../components/ShownOnce';
import { ErrorAlert } from '../components/Status';
import { Page } from '../components/Page';

const ROLES = ['viewer', 'member', 'admin', 'owner'] as const;
type Role = (typeof ROLES)[number];
const isRole = (v: string | null): v is Role => ROLES.some((r) => r === v);

/** API keys: create (the secret is shown once), list, revoke. */
export default function Keys() {
  const client = useQueryClient();
  const list = useQuery({ queryKey: ['api-keys'], queryFn: () => must(api.GET('/v1/api-keys')) });
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('member');
  const [models, setModels] = useState('');
  const [secret, setSecret] = useState<string>();
  const refresh = () => client.invalidateQueries({ queryKey: ['api-keys'] });
  const create = useMutation({
    mutationFn: () => {
      const allowed = models
        .split(',')
        .map((m) => m.trim())
        .filter(Boolean);
      return must(
        api.POST('/v1/api-keys', {
          body: { name, role, ...(allowed.length ? { models: allowed } : {}) },
        }),
      );
    },
    onSuccess: (key) => {
      setSecret(key.secret);
      setName('');
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
        <form
          onSubmit={(e) => {
            e.preventDefault();
            create.mutate();
          }}
        >
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
            <TextInput
              label="Models (comma-separated; empty: all)"
              value={models}
              onChange={(e) => setModels(e.currentTarget.value)}
            />
            <Button type="submit" loading={create.isPending}>
              Create key
            </Button>
          </Group>
        </form>
      </Card>
      <Table striped>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Prefix</Table.Th>
            <Table.Th>Role</Table.Th>
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
              <Table.Td>{new Date(k.createdAt).toLocaleString()}</Table.Td>
              <Table.Td>{k.expiresAt ? new Date(k.expiresAt).toLocaleString() : 'never'}</Table.Td>
              <Table.Td>
                <Button
                  size="xs"
                  variant="subtle"
                  color="red"
                  aria-label={`Revoke key ${k.name}`}
                  onClick={() =>
                    confirmed(`Revoke key ${k.name}? Calls with it fail at once.`) &&
                    revoke.mutate(k.id)
                  }
                >
                  Revoke
                </Button>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Page>
  );
}
