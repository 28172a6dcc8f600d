import { Center, Loader, Modal } from '@mantine/core';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import { useNavigate } from 'react-router';
import { api, onSessionLost, setApiKey, usingApiKey } from '../api/client';
import { must } from '../api/problem';
import type { paths } from '../api/schema';
import { isAuthorizePath, takeReturnPath } from './return-path';
import { SignIn } from './SignIn';

export type Me = paths['/v1/me']['get']['responses'][200]['content']['application/json'];

interface Session {
  me: Me;
  /** True when the caller holds the permission (the server still checks every request). */
  can(permission: string): boolean;
  viaApiKey: boolean;
  signOut(): Promise<void>;
}

const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside <SessionGate>');
  return s;
}

/**
 * Shows sign-in until GET /v1/me answers; afterwards the pages. A session lost later (a 401)
 * opens sign-in over the page instead of replacing it, so nothing typed there is lost.
 */
export function SessionGate({ children }: { children: ReactNode }) {
  const client = useQueryClient();
  const me = useQuery({
    queryKey: ['me'],
    queryFn: () => must(api.GET('/v1/me')),
    retry: false,
    staleTime: 5 * 60_000,
  });
  const [lost, setLost] = useState(false);
  const navigate = useNavigate();
  useEffect(() => onSessionLost(() => setLost(true)), []);
  const signedInNow = me.data !== undefined;
  // Once signed in (a sign-in just made here, or the single sign-on callback landing on Home):
  // back to where the sign-in started, when that was remembered and is acceptable. A `next` that
  // was not acceptable is dropped from the address, which leaves the person on Home.
  useEffect(() => {
    if (!signedInNow) return;
    const target = takeReturnPath();
    if (target && isAuthorizePath(target)) {
      // The authorization page is the server's, and it needs the session cookie, not a key.
      if (!usingApiKey()) window.location.assign(target);
      else void navigate('/', { replace: true });
    } else if (target) void navigate(target, { replace: true });
    else if (new URLSearchParams(window.location.search).has('next'))
      void navigate('/', { replace: true });
  }, [signedInNow, navigate]);
  const signedIn = useCallback(async () => {
    setLost(false);
    await client.invalidateQueries();
  }, [client]);
  const signOut = useCallback(async () => {
    if (!usingApiKey()) {
      const csrf = document.cookie.match(/(?:^|; )(?:__Host-)?rampart_csrf=([^;]+)/)?.[1];
      await fetch('/auth/logout', {
        method: 'POST',
        credentials: 'same-origin',
        redirect: 'manual',
        headers: csrf ? { 'x-csrf-token': csrf } : {},
      });
    }
    setApiKey(undefined);
    client.clear();
    window.location.assign('/');
  }, [client]);

  if (me.isPending)
    return (
      <Center h="100vh">
        <Loader aria-label="Loading" />
      </Center>
    );
  if (!me.data) return <SignIn onSignedIn={signedIn} />;
  const permissions = new Set(me.data.principal.permissions);
  const session: Session = {
    me: me.data,
    can: (p) => permissions.has(p),
    viaApiKey: usingApiKey(),
    signOut,
  };
  return (
    <SessionContext.Provider value={session}>
      {children}
      <Modal
        opened={lost}
        onClose={() => setLost(false)}
        title="Your session ended: sign in again to continue"
        closeButtonProps={{ 'aria-label': 'Close' }}
        size="lg"
      >
        <SignIn onSignedIn={signedIn} embedded defaultTenant={me.data.tenant.slug} />
      </Modal>
    </SessionContext.Provider>
  );
}
