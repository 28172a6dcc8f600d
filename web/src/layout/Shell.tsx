import {
  ActionIcon,
  AppShell,
  Badge,
  Burger,
  Button,
  Group,
  NavLink,
  Text,
  useComputedColorScheme,
  useMantineColorScheme,
} from '@mantine/core';
import { useDisclosure } from '@mantine/hooks';
import type { ReactNode } from 'react';
import { Link, useLocation } from 'react-router';
import { useSession } from '../auth/session';
import { NAV } from './nav';

function ThemeToggle() {
  const { setColorScheme } = useMantineColorScheme();
  const scheme = useComputedColorScheme('light');
  const next = scheme === 'dark' ? 'light' : 'dark';
  return (
    <ActionIcon
      variant="default"
      size="lg"
      aria-label={`Switch to the ${next} theme`}
      onClick={() => setColorScheme(next)}
    >
      <span aria-hidden>{scheme === 'dark' ? '☀' : '☾'}</span>
    </ActionIcon>
  );
}

/** The frame of every page: navigation filtered by the caller's permissions, theme, sign-out. */
export function Shell({ children }: { children: ReactNode }) {
  const { me, can, signOut, viaApiKey } = useSession();
  const [opened, { toggle, close }] = useDisclosure();
  const { pathname } = useLocation();
  const items = NAV.filter((n) => can(n.permission));
  const link = (n: (typeof NAV)[number]) => (
    <NavLink
      key={n.to}
      component={Link}
      to={n.to}
      label={n.label}
      active={n.to === '/' ? pathname === '/' : pathname.startsWith(n.to)}
      onClick={close}
    />
  );
  return (
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 220, breakpoint: 'sm', collapsed: { mobile: !opened } }}
      padding="md"
    >
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between">
          <Group>
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Menu" />
            <Text fw={700}>Rampart</Text>
            <Badge variant="light">{me.tenant.slug}</Badge>
          </Group>
          <Group>
            <Text size="sm" c="dimmed">
              {me.principal.role}
              {viaApiKey ? ' · API key' : ''}
            </Text>
            <ThemeToggle />
            <Button variant="default" onClick={() => void signOut()}>
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" component="nav" aria-label="Pages">
        {items.filter((n) => !n.admin).map(link)}
        {items.some((n) => n.admin) && (
          <Text size="xs" c="dimmed" px="sm" pt="md" pb={4} fw={700}>
            ADMIN
          </Text>
        )}
        {items.filter((n) => n.admin).map(link)}
      </AppShell.Navbar>
      <AppShell.Main>{children}</AppShell.Main>
    </AppShell>
  );
}
