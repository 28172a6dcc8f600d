import {
  Button,
  Card,
  Group,
  PasswordInput,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { must } from '../api/problem';
import { confirmed } from '../components/Confirm';
import { ErrorAlert } from '../components/Status';
import { Page } from '../components/Page';
import { Prices, TenantLimits } from './GatewayCosts';
import { Routes } from './GatewayRoutes';

function Providers() {
  const client = useQueryClient();
  const list = useQuery({ queryKey: ['providers'], queryFn: () => must(api.GET('/v1/providers')) });
  const [name, setName] = useState('');
  const [type, setType] = useState<'openai' | 'anthropic'>('openai');
  const [baseUrl, setBaseUrl] = useState('');
  const [apiKey, setApiKey] = useState('');
  const refresh = () => client.invalidateQueries({ queryKey: ['providers'] });
  const create = useMutation({
    mutationFn: () =>
      must(
        api.POST('/v1/providers', {
          body: { name, type, apiKey, ...(baseUrl ? { baseUrl } : {}) },
        }),
      ),
    onSuccess: () => {
      setName('');
      setBaseUrl('');
      setApiKey('');
      void refresh();
    },
  });
  const remove = useMutation({
    mutationFn: (id: string) =>
      must(api.DELETE('/v1/providers/{id}', { params: { path: { id } } })),
    onSuccess: refresh,
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <Card withBorder>
      <Title order={2} size="h3" mb="sm">
        Providers
      </Title>
      <ErrorAlert error={list.error ?? create.error ?? remove.error} />
      <Table>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Name</Table.Th>
            <Table.Th>Type</Table.Th>
            <Table.Th>Base URL</Table.Th>
            <Table.Th>Secret</Table.Th>
            <Table.Th>Actions</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(list.data?.data ?? []).map((p) => (
            <Table.Tr key={p.id}>
              <Table.Td>{p.name}</Table.Td>
              <Table.Td>{p.type}</Table.Td>
              <Table.Td>{p.baseUrl}</Table.Td>
              <Table.Td>set (write-only)</Table.Td>
              <Table.Td>
                <Button
                  size="xs"
                  variant="subtle"
                  color="red"
                  aria-label={`Delete provider ${p.name}`}
                  onClick={() => confirmed(`Delete provider ${p.name}?`) && remove.mutate(p.id)}
                >
                  Delete
                </Button>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      <form onSubmit={submit}>
        <Group align="flex-end" mt="md">
          <TextInput
            label="Provider name"
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            required
          />
          <Select
            label="Type"
            data={['openai', 'anthropic']}
            value={type}
            onChange={(v) => setType(v === 'anthropic' ? 'anthropic' : 'openai')}
            allowDeselect={false}
            w={140}
          />
          <TextInput
            label="Base URL"
            placeholder="https://api.openai.com/v1"
            value={baseUrl}
            onChange={(e) => setBaseUrl(e.currentTarget.value)}
          />
          <PasswordInput
            label="Provider API key"
            value={apiKey}
            onChange={(e) => setApiKey(e.currentTarget.value)}
            required
          />
          <Button type="submit" loading={create.isPending}>
            Add provider
          </Button>
        </Group>
      </form>
      <Text size="xs" c="dimmed" mt="xs">
        The key is encrypted at rest and never shown again.
      </Text>
    </Card>
  );
}

/** Providers (secrets write-only) and the routes from aliases to their models. */
export default function Gateway() {
  return (
    <Page
      title="Gateway"
      intro="Where model calls go (providers, routes from an alias to models), what they cost, and what the tenant may spend."
    >
      <Stack>
        <Providers />
        <Routes />
        <Prices />
        <TenantLimits />
      </Stack>
    </Page>
  );
}
