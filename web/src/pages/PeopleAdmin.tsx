import { Button, Card, Code, Group, Select, Stack, Text, Title } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api } from '../api/client';
import { ApiError, must, problemOf } from '../api/problem';
import { confirmed } from '../components/Confirm';
import { ShownOnce } from '../components/ShownOnce';
import { ErrorAlert } from '../components/Status';
import { OidcSettings } from './OidcSettings';

/** One group's members: add a person of the tenant, remove one. */
export function GroupMembers({ groupId }: { groupId: string }) {
  const client = useQueryClient();
  const group = useQuery({
    queryKey: ['groups', groupId],
    queryFn: () => must(api.GET('/v1/groups/{id}', { params: { path: { id: groupId } } })),
  });
  const users = useQuery({ queryKey: ['users'], queryFn: () => must(api.GET('/v1/users')) });
  const [userId, setUserId] = useState<string | null>(null);
  const changed = () => {
    void client.invalidateQueries({ queryKey: ['groups'] });
    void client.invalidateQueries({ queryKey: ['users'] });
  };
  const add = useMutation({
    mutationFn: (u: string) =>
      must(
        api.PUT('/v1/groups/{id}/members/{userId}', {
          params: { path: { id: groupId, userId: u } },
        }),
      ),
    onSuccess: () => {
      setUserId(null);
      changed();
    },
  });
  const remove = useMutation({
    mutationFn: (u: string) =>
      must(
        api.DELETE('/v1/groups/{id}/members/{userId}', {
          params: { path: { id: groupId, userId: u } },
        }),
      ),
    onSuccess: changed,
  });
  const members = group.data?.members ?? [];
  const candidates = (users.data?.data ?? []).filter((u) => !members.some((m) => m.id === u.id));
  const name = group.data?.name ?? '';
  return (
    <Stack gap="xs" data-testid="group-members">
      <Title order={3} size="h5">
        Members of {name}
      </Title>
      <ErrorAlert error={group.error ?? add.error ?? remove.error} />
      {members.length === 0 && !group.isPending && <Text c="dimmed">No members yet.</Text>}
      {members.map((m) => (
        <Group key={m.id} justify="space-between" data-testid="group-member">
          <Text size="sm">{m.email}</Text>
          <Button
            size="xs"
            variant="subtle"
            color="red"
            aria-label={`Remove ${m.email} from ${name}`}
            onClick={() => remove.mutate(m.id)}
            loading={remove.isPending && remove.variables === m.id}
          >
            Remove
          </Button>
        </Group>
      ))}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (userId) add.mutate(userId);
        }}
      >
        <Group align="flex-end">
          <Select
            label={`Add a person to ${name}`}
            placeholder="Pick a person"
            data={candidates.map((u) => ({ value: u.id, label: u.email }))}
            value={userId}
            onChange={setUserId}
            searchable
          />
          <Button type="submit" disabled={!userId} loading={add.isPending}>
            Add to group
          </Button>
        </Group>
      </form>
    </Stack>
  );
}

function text(o: unknown, key: string): string | undefined {
  const v = typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[key] : undefined;
  return typeof v === 'string' ? v : undefined;
}

/** The SCIM bearer token: its prefix, and a new one shown once (the previous stops working). */
function ScimToken() {
  const client = useQueryClient();
  const current = useQuery({
    queryKey: ['scim-token'],
    queryFn: async () => {
      const { data, error, response } = await api.GET('/v1/identity/scim-token');
      if (response.status === 404) return null;
      if (!response.ok) throw problemOf(response.status, error);
      return { prefix: text(data, 'prefix'), createdAt: text(data, 'createdAt') };
    },
  });
  const [secret, setSecret] = useState<{ token: string; baseUrl?: string }>();
  const issue = useMutation({
    mutationFn: async () => {
      const { data, error, response } = await api.POST('/v1/identity/scim-token');
      if (!response.ok) throw problemOf(response.status, error);
      const token = text(data, 'token');
      if (!token) throw new ApiError(response.status, 'empty', 'The server sent no token.');
      return { token, baseUrl: text(data, 'baseUrl') };
    },
    onSuccess: (t) => {
      setSecret(t);
      void client.invalidateQueries({ queryKey: ['scim-token'] });
    },
  });
  const revoke = useMutation({
    mutationFn: () => must(api.DELETE('/v1/identity/scim-token')),
    onSuccess: () => client.invalidateQueries({ queryKey: ['scim-token'] }),
  });
  const has = current.data !== null && current.data !== undefined;
  return (
    <Stack gap="xs">
      <Title order={3} size="h4">
        SCIM provisioning
      </Title>
      <ErrorAlert error={current.error ?? issue.error ?? revoke.error} />
      {secret && (
        <ShownOnce
          label={`SCIM token (shown once; give it to your identity provider${secret.baseUrl ? ` with the base URL ${secret.baseUrl}` : ''})`}
          value={secret.token}
          onDone={() => setSecret(undefined)}
        />
      )}
      <Text size="sm" data-testid="scim-status">
        {has ? (
          <>
            Token <Code>{current.data?.prefix}…</Code> since{' '}
            {current.data?.createdAt ? new Date(current.data.createdAt).toLocaleString() : '—'}
          </>
        ) : (
          'No SCIM token: provisioning is off.'
        )}
      </Text>
      <Group>
        <Button
          onClick={() =>
            (!has || confirmed('Issue a new SCIM token? The current one stops working.')) &&
            issue.mutate()
          }
          loading={issue.isPending}
        >
          {has ? 'Rotate SCIM token' : 'Issue SCIM token'}
        </Button>
        {has && (
          <Button
            variant="light"
            color="red"
            onClick={() =>
              confirmed('Delete the SCIM token? Provisioning stops.') && revoke.mutate()
            }
          >
            Delete SCIM token
          </Button>
        )}
      </Group>
    </Stack>
  );
}

/** Identity settings for the owner: the OIDC provider and the SCIM token. */
export function IdentitySettings() {
  return (
    <Card withBorder>
      <Title order={2} size="h3" mb="sm">
        Identity settings
      </Title>
      <Stack gap="lg">
        <OidcSettings />
        <ScimToken />
      </Stack>
    </Card>
  );
}
