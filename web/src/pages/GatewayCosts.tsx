import {
  Alert,
  Badge,
  Button,
  Card,
  Group,
  NumberInput,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { must } from '../api/problem';
import { confirmed } from '../components/Confirm';
import { ErrorAlert } from '../components/Status';
import { LimitsFields } from '../components/LimitsFields';
import { draftOf, limitsOf, NO_LIMITS, type LimitsDraft } from '../components/limits';

/** Prices in USD per million tokens: the built-in ones and the tenant's overrides. */
export function Prices() {
  const client = useQueryClient();
  const list = useQuery({ queryKey: ['prices'], queryFn: () => must(api.GET('/v1/prices')) });
  const [model, setModel] = useState('');
  const [input, setInput] = useState<number | string>('');
  const [output, setOutput] = useState<number | string>('');
  const [cached, setCached] = useState<number | string>('');
  const refresh = () => client.invalidateQueries({ queryKey: ['prices'] });
  const save = useMutation({
    mutationFn: () =>
      must(
        api.PUT('/v1/prices/{model}', {
          params: { path: { model } },
          body: {
            input: typeof input === 'number' ? input : 0,
            output: typeof output === 'number' ? output : 0,
            ...(typeof cached === 'number' ? { cachedInput: cached } : {}),
          },
        }),
      ),
    onSuccess: () => {
      setModel('');
      setInput('');
      setOutput('');
      setCached('');
      void refresh();
    },
  });
  const reset = useMutation({
    mutationFn: (m: string) =>
      must(api.DELETE('/v1/prices/{model}', { params: { path: { model: m } } })),
    onSuccess: refresh,
  });
  const tenantPrices = (list.data?.data ?? []).filter((p) => p.source === 'tenant');
  const builtins = (list.data?.data ?? []).filter((p) => p.source !== 'tenant');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  return (
    <Card withBorder>
      <Title order={2} size="h3" mb="sm">
        Prices
      </Title>
      <Text size="sm" c="dimmed" mb="sm">
        USD per million tokens of the upstream model (not the alias). They set the cost in usage and
        what budgets reserve; an override replaces the built-in price for this tenant.
      </Text>
      <ErrorAlert error={list.error ?? save.error ?? reset.error} />
      <Table>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Model</Table.Th>
            <Table.Th>Input</Table.Th>
            <Table.Th>Output</Table.Th>
            <Table.Th>Cached input</Table.Th>
            <Table.Th>Source</Table.Th>
            <Table.Th>Actions</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {[...tenantPrices, ...builtins.slice(0, 8)].map((p) => (
            <Table.Tr key={`${p.source}/${p.model}`} data-testid="price-row">
              <Table.Td>{p.model}</Table.Td>
              <Table.Td>{p.input}</Table.Td>
              <Table.Td>{p.output}</Table.Td>
              <Table.Td>{p.cachedInput}</Table.Td>
              <Table.Td>
                <Badge variant="light" color={p.source === 'tenant' ? 'blue' : 'gray'}>
                  {p.source}
                </Badge>
              </Table.Td>
              <Table.Td>
                {p.source === 'tenant' && (
                  <Button
                    size="xs"
                    variant="subtle"
                    color="red"
                    aria-label={`Remove the price override of ${p.model}`}
                    onClick={() =>
                      confirmed(`Remove the price override of ${p.model}?`) && reset.mutate(p.model)
                    }
                  >
                    Remove
                  </Button>
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {builtins.length > 8 && (
        <Text size="sm" c="dimmed">
          and {builtins.length - 8} more built-in prices.
        </Text>
      )}
      <form onSubmit={submit}>
        <Group align="flex-end" mt="md">
          <TextInput
            label="Price model"
            value={model}
            onChange={(e) => setModel(e.currentTarget.value)}
            required
          />
          <NumberInput
            label="Input $/M"
            min={0}
            decimalScale={6}
            value={input}
            onChange={setInput}
            required
            w={120}
          />
          <NumberInput
            label="Output $/M"
            min={0}
            decimalScale={6}
            value={output}
            onChange={setOutput}
            required
            w={120}
          />
          <NumberInput
            label="Cached input $/M"
            min={0}
            decimalScale={6}
            value={cached}
            onChange={setCached}
            w={150}
          />
          <Button type="submit" loading={save.isPending}>
            Set price
          </Button>
        </Group>
      </form>
    </Card>
  );
}

/** The tenant-wide limits every request must pass (besides its key's own). */
export function TenantLimits() {
  const client = useQueryClient();
  const current = useQuery({ queryKey: ['limits'], queryFn: () => must(api.GET('/v1/limits')) });
  const [draft, setDraft] = useState<LimitsDraft>(NO_LIMITS);
  useEffect(() => {
    if (current.data) setDraft(draftOf(current.data));
  }, [current.data]);
  const save = useMutation({
    mutationFn: () => must(api.PUT('/v1/limits', { body: limitsOf(draft) })),
    onSuccess: (l) => client.setQueryData(['limits'], l),
  });
  return (
    <Card withBorder>
      <Title order={2} size="h3" mb="sm">
        Tenant limits
      </Title>
      <Text size="sm" c="dimmed" mb="sm">
        Shared by every key of the tenant; an empty field is unlimited.
      </Text>
      <ErrorAlert error={current.error ?? save.error} />
      {save.isSuccess && (
        <Alert color="green" role="status" py="xs" mb="sm">
          Limits saved.
        </Alert>
      )}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          save.mutate();
        }}
      >
        <Group align="flex-end">
          <LimitsFields value={draft} onChange={setDraft} />
          <Button type="submit" loading={save.isPending}>
            Save limits
          </Button>
        </Group>
      </form>
    </Card>
  );
}
