import {
  Alert,
  Badge,
  Button,
  Card,
  Code,
  Group,
  Select,
  Stack,
  TagsInput,
  Text,
  TextInput,
  PasswordInput,
  Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/client';
import { ApiError, must, problemOf } from '../api/problem';
import { confirmed } from '../components/Confirm';
import { ShownOnce } from '../components/ShownOnce';
import { ErrorAlert } from '../components/Status';

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

const OIDC_ROLES = ['admin', 'member', 'viewer'] as const;
type OidcRole = (typeof OIDC_ROLES)[number];
const isOidcRole = (v: string | null): v is OidcRole => OIDC_ROLES.some((r) => r === v);

/** The tenant's OpenID Connect provider (the client secret write-only). */
function OidcSettings() {
  const client = useQueryClient();
  const current = useQuery({
    queryKey: ['oidc'],
    queryFn: async () => {
      const { data, error, response } = await api.GET('/v1/identity/oidc');
      if (response.status === 404) return null;
      if (!response.ok || !data) throw problemOf(response.status, error);
      return data;
    },
  });
  const [issuer, setIssuer] = useState('');
  const [clientId, setClientId] = useState('');
  const [clientSecret, setClientSecret] = useState('');
  const [scopes, setScopes] = useState<string[]>(['openid', 'email', 'profile']);
  const [domains, setDomains] = useState<string[]>([]);
  const [defaultRole, setDefaultRole] = useState<OidcRole>('member');
  useEffect(() => {
    const c = current.data;
    if (!c) return;
    setIssuer(c.issuer);
    setClientId(c.clientId);
    setScopes(c.scopes);
    setDomains(c.allowedEmailDomains);
    setDefaultRole(c.defaultRole);
  }, [current.data]);
  const save = useMutation({
    mutationFn: () =>
      must(
        api.PUT('/v1/identity/oidc', {
          body: {
            issuer,
            clientId,
            clientSecret,
            scopes,
            allowedEmailDomains: domains,
            defaultRole,
            // Kept as they are: the group → role mapping is edited through the API.
            ...(current.data
              ? { roleMapping: current.data.roleMapping, groupsClaim: current.data.groupsClaim }
              : {}),
          },
        }),
      ),
    onSuccess: (c) => {
      setClientSecret('');
      client.setQueryData(['oidc'], c);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  const c = current.data;
  return (
    <Stack gap="xs">
      <Title order={3} size="h4">
        Single sign-on (OpenID Connect)
      </Title>
      <ErrorAlert error={current.error ?? save.error} />
      {c ? (
        <Alert color="blue" data-testid="oidc-status">
          Connected to <Code>{c.issuer}</Code>; redirect URI <Code>{c.redirectUri}</Code>; sign-in
          at <Code>{c.loginUrl}</Code>. Role mapping:{' '}
          {Object.entries(c.roleMapping)
            .map(([g, r]) => `${g} → ${r}`)
            .join(', ') || 'none'}
          ; others get <Badge variant="light">{c.defaultRole}</Badge>
        </Alert>
      ) : (
        !current.isPending && <Text c="dimmed">No identity provider connected.</Text>
      )}
      <form onSubmit={submit}>
        <Stack gap="xs">
          <Group grow>
            <TextInput
              label="Issuer URL"
              type="url"
              value={issuer}
              onChange={(e) => setIssuer(e.currentTarget.value)}
              required
            />
            <TextInput
              label="Client ID"
              value={clientId}
              onChange={(e) => setClientId(e.currentTarget.value)}
              required
            />
            <PasswordInput
              label="Client secret"
              description={c ? 'write-only: enter it again to save' : undefined}
              value={clientSecret}
              onChange={(e) => setClientSecret(e.currentTarget.value)}
              required
            />
          </Group>
          <Group grow align="flex-start">
            <TagsInput label="Scopes" value={scopes} onChange={setScopes} />
            <TagsInput
              label="Allowed e-mail domains"
              placeholder="any domain"
              value={domains}
              onChange={setDomains}
            />
            <Select
              label="Default role"
              data={[...OIDC_ROLES]}
              value={defaultRole}
              onChange={(v) => isOidcRole(v) && setDefaultRole(v)}
              allowDeselect={false}
            />
          </Group>
          <Group>
            <Button type="submit" loading={save.isPending}>
              Save identity provider
            </Button>
          </Group>
        </Stack>
      </form>
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
