import { Center, Loader } from '@mantine/core';
import { lazy, Suspense, type ComponentType } from 'react';
import { Route, Routes } from 'react-router';
import { SessionGate, useSession } from './auth/session';
import { Shell } from './layout/Shell';
import { NAV } from './layout/nav';
import { Forbidden, NotFoundPage } from './components/Status';

// Route-level code splitting: each page (and the chart library with Home) is its own chunk.
const PAGES: Record<string, ComponentType> = {
  home: lazy(() => import('./pages/Home')),
  documents: lazy(() => import('./pages/Documents')),
  document: lazy(() => import('./pages/DocumentView')),
  ask: lazy(() => import('./pages/Ask')),
  chat: lazy(() => import('./pages/Chat')),
  agents: lazy(() => import('./pages/Agents')),
  approvals: lazy(() => import('./pages/Approvals')),
  usage: lazy(() => import('./pages/Usage')),
  sql: lazy(() => import('./pages/Sql')),
  gateway: lazy(() => import('./pages/Gateway')),
  keys: lazy(() => import('./pages/Keys')),
  people: lazy(() => import('./pages/People')),
  audit: lazy(() => import('./pages/Audit')),
  connectedApps: lazy(() => import('./pages/ConnectedApps')),
};

function Guarded({ page, permission }: { page: string; permission: string }) {
  const { can } = useSession();
  const Page = PAGES[page];
  if (!Page) return <NotFoundPage />;
  if (!can(permission)) return <Forbidden />;
  return <Page />;
}

export function App() {
  return (
    <SessionGate>
      <Shell>
        <Suspense
          fallback={
            <Center p="xl">
              <Loader aria-label="Loading page" />
            </Center>
          }
        >
          <Routes>
            {NAV.map((n) => (
              <Route
                key={n.page}
                path={n.to}
                element={<Guarded page={n.page} permission={n.permission} />}
              />
            ))}
            <Route
              path="/documents/:id"
              element={<Guarded page="document" permission="documents:read" />}
            />
            <Route path="*" element={<NotFoundPage />} />
          </Routes>
        </Suspense>
      </Shell>
    </SessionGate>
  );
}
