import {
  Alert,
  Button,
  Center,
  Divider,
  Paper,
  PasswordInput,
  Stack,
  Tabs,
  Text,
  TextInput,
  Title,
} from '@mantine/core';
import { useState, type FormEvent } from 'react';
import { api, setApiKey } from '../api/client';
import { messageOf, must } from '../api/problem';
import { isAuthorizePath, rememberReturnPath, returnTargetOf } from './return-path';

interface Props {
  onSignedIn(): Promise<void>;
  /** Inside the "session ended" dialog rather than a page of its own. */
  embedded?: boolean;
  defaultTenant?: string;
}

/** Sign-in: the tenant's single sign-on, e-mail and password (with TOTP), or an API key. */
export function SignIn({ onSignedIn, embedded = false, defaultTenant = '' }: Props) {
  const [tenant, setTenant] = useState(
    defaultTenant || new URLSearchParams(window.location.search).get('tenant') || '',
  );
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [key, setKey] = useState('');
  const [invitation, setInvitation] = useState('');
  const [tab, setTab] = useState<string | null>('password');
  const [notice, setNotice] = useState<string>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  // Where this sign-in returns to; the dialog over a page needs none (the page stays).
  const returnTo = embedded ? undefined : returnTargetOf(window.location);
  const forApplication = returnTo !== undefined && isAuthorizePath(returnTo);
  const attempt = async (work: () => Promise<void>) => {
    if (!embedded) rememberReturnPath(returnTo);
    setBusy(true);
    setError(undefined);
    try {
      await work();
      await onSignedIn();
    } catch (err) {
      setError(messageOf(err));
    } finally {
      setBusy(false);
    }
  };
  const withPassword = (e: FormEvent) => {
    e.preventDefault();
    void attempt(async () => {
      setApiKey(undefined);
      await must(
        api.POST('/auth/{tenantSlug}/password', {
          params: { path: { tenantSlug: tenant.trim() } },
          body: { email, password, ...(code ? { code } : {}) },
        }),
      );
    });
  };
  const withKey = (e: FormEvent) => {
    e.preventDefault();
    void attempt(async () => {
      setApiKey(key.trim());
      try {
        await must(api.GET('/v1/me'));
      } catch (err) {
        setApiKey(undefined);
        throw err;
      }
    });
  };
  const accept = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    must(
      api.POST('/auth/invitations/accept', {
        body: { token: invitation.trim(), password },
      }),
    )
      .then((joined) => {
        setTenant(joined.tenant);
        setEmail(joined.email);
        setInvitation('');
        setNotice(`You joined ${joined.tenant}: sign in with your new password.`);
        setTab('password');
      })
      .catch((err: unknown) => setError(messageOf(err)))
      .finally(() => setBusy(false));
  };
  const slug = tenant.trim();

  const form = (
    <Stack>
      {!embedded && <Title order={1}>Sign in to Rampart</Title>}
      {error && (
        <Alert color="red" title="Sign-in failed" role="alert">
          {error}
        </Alert>
      )}
      {forApplication && (
        <Alert color="blue" title="An application asks to connect" role="status">
          Sign in with your password or single sign-on: you then decide whether it may use Rampart
          as you.
        </Alert>
      )}
      {notice && (
        <Alert color="green" role="status">
          {notice}
        </Alert>
      )}
      <Tabs value={tab} onChange={setTab}>
        <Tabs.List>
          <Tabs.Tab value="password">Password</Tabs.Tab>
          <Tabs.Tab value="sso">Single sign-on</Tabs.Tab>
          <Tabs.Tab value="key">API key</Tabs.Tab>
          <Tabs.Tab value="invitation">Invitation</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="password" pt="md">
          <form onSubmit={withPassword}>
            <Stack>
              <TextInput
                label="Tenant"
                value={tenant}
                onChange={(e) => setTenant(e.currentTarget.value)}
                required
              />
              <TextInput
                label="E-mail"
                type="email"
                autoComplete="username"
                value={email}
                onChange={(e) => setEmail(e.currentTarget.value)}
                required
              />
              <PasswordInput
                label="Password"
                autoComplete="current-password"
                value={password}
                onChange={(e) => setPassword(e.currentTarget.value)}
                required
              />
              <TextInput
                label="Authenticator or recovery code (once enrolled)"
                autoComplete="one-time-code"
                value={code}
                onChange={(e) => setCode(e.currentTarget.value)}
              />
              <Button type="submit" loading={busy}>
                Sign in
              </Button>
            </Stack>
          </form>
        </Tabs.Panel>
        <Tabs.Panel value="sso" pt="md">
          <Stack>
            <TextInput
              label="Tenant"
              value={tenant}
              onChange={(e) => setTenant(e.currentTarget.value)}
            />
            <Button
              component="a"
              href={slug ? `/auth/${encodeURIComponent(slug)}/login` : undefined}
              data-disabled={!slug || undefined}
              onClick={(e) => {
                if (!slug) e.preventDefault();
                // The identity provider returns to Home: the path waits in this tab's storage.
                else rememberReturnPath(embedded ? returnTargetOf(window.location) : returnTo);
              }}
            >
              Continue with your identity provider
            </Button>
          </Stack>
        </Tabs.Panel>
        <Tabs.Panel value="key" pt="md">
          <form onSubmit={withKey}>
            <Stack>
              <PasswordInput
                label="API key"
                description="Kept in this tab's memory only: reloading the page forgets it."
                value={key}
                onChange={(e) => setKey(e.currentTarget.value)}
                required
              />
              <Button type="submit" loading={busy}>
                Use this key
              </Button>
            </Stack>
          </form>
        </Tabs.Panel>
        <Tabs.Panel value="invitation" pt="md">
          <form onSubmit={accept}>
            <Stack>
              <TextInput
                label="Invitation token"
                value={invitation}
                onChange={(e) => setInvitation(e.currentTarget.value)}
                required
              />
              <PasswordInput
                label="Choose a password"
                description="At least 12 characters, not a common one."
                autoComplete="new-password"
                value={password}
                onChange={(e) => setPassword(e.currentTarget.value)}
                required
              />
              <Button type="submit" loading={busy}>
                Accept and set password
              </Button>
            </Stack>
          </form>
        </Tabs.Panel>
      </Tabs>
      <Divider />
      <Text size="sm" c="dimmed">
        New here? An operator creates a tenant with the root token; its owner API key signs in under
        “API key”. People invited under People accept here under “Invitation”.
      </Text>
    </Stack>
  );
  if (embedded) return form;
  return (
    <Center mih="100vh" p="md" component="main">
      <Paper withBorder shadow="sm" p="xl" w={460} maw="100%">
        {form}
      </Paper>
    </Center>
  );
}
