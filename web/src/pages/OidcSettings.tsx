import {
  Alert,
  Badge,
  Button,
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
import { must, problemOf } from '../api/problem';
import { RowsEditor } from '../components/RowsEditor';
import { ErrorAlert } from '../components/Status';

const OIDC_ROLES = ['admin', 'member', 'viewer'] as const;
type OidcRole = (typeof OIDC_ROLES)[number];
const isOidcRole = (v: string | null): v is OidcRole => OIDC_ROLES.some((r) => r === v);
interface MappingRow {
  group: string;
  role: OidcRole;
}
/** The rows as the API's `roleMapping`; a blank group is dropped, a repeated one keeps its last role. */
const roleMappingOf = (rows: readonly MappingRow[]): Record<string, OidcRole> =>
  Object.fromEntries(rows.filter((r) => r.group.trim()).map((r) => [r.group.trim(), r.role]));

/** The tenant's OpenID Connect provider (the client secret write-only). */
export function OidcSettings() {
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
  const [groupsClaim, setGroupsClaim] = useState('groups');
  const [mapping, setMapping] = useState<MappingRow[]>([]);
  useEffect(() => {
    const c = current.data;
    if (!c) return;
    setIssuer(c.issuer);
    setClientId(c.clientId);
    setScopes(c.scopes);
    setDomains(c.allowedEmailDomains);
    setDefaultRole(c.defaultRole);
    setGroupsClaim(c.groupsClaim);
    setMapping(Object.entries(c.roleMapping).map(([group, role]) => ({ group, role })));
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
            groupsClaim,
            roleMapping: roleMappingOf(mapping),
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
          <Title order={4} size="h5" mt="xs">
            Group to role mapping
          </Title>
          <Text size="sm" c="dimmed">
            A person in a mapped group signs in with that role (the highest of their groups);
            everyone else gets the default role.
          </Text>
          <TextInput
            label="Groups claim"
            description="The ID token claim that lists the person's groups"
            value={groupsClaim}
            onChange={(e) => setGroupsClaim(e.currentTarget.value)}
            required
            w={320}
          />
          <RowsEditor
            rows={mapping}
            onChange={setMapping}
            blank={() => ({ group: '', role: 'member' as OidcRole })}
            addLabel="Add group mapping"
            removeLabel={(i) => `Remove mapping ${i + 1}`}
            testId="role-mapping"
          >
            {(m, i, set) => (
              <>
                <TextInput
                  label={`Mapping ${i + 1} group`}
                  value={m.group}
                  onChange={(e) => set({ group: e.currentTarget.value })}
                  required
                  w={260}
                />
                <Select
                  label={`Mapping ${i + 1} role`}
                  data={[...OIDC_ROLES]}
                  value={m.role}
                  onChange={(v) => isOidcRole(v) && set({ role: v })}
                  allowDeselect={false}
                  w={140}
                />
              </>
            )}
          </RowsEditor>
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
