import {
  Badge,
  Button,
  Card,
  Group,
  Select,
  SimpleGrid,
  Table,
  TextInput,
  Title,
} from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { api } from '../api/client';
import { must } from '../api/problem';
import { useSession } from '../auth/session';
import { ShownOnce } from '../components/ShownOnce';
import { ErrorAlert } from '../components/Status';
import { Page } from '../components/Page';
import { GroupMembers, IdentitySettings } from './PeopleAdmin';

const ROLES = ['viewer', 'member', 'admin', 'owner'] as const;
type Role = (typeof ROLES)[number];
const isRole = (v: string | null): v is Role => ROLES.some((r) => r === v);

function Groups() {
  const client = useQueryClient();
  const list = useQuery({ queryKey: ['groups'], queryFn: () => must(api.GET('/v1/groups')) });
  const [name, setName] = useState('');
  const [open, setOpen] = useState<string>();
  const create = useMutation({
    mutationFn: () => must(api.POST('/v1/groups', { body: { name } })),
    onSuccess: () => {
      setName('');
      void client.invalidateQueries({ queryKey: ['groups'] });
    },
  });
  return (
    <Card withBorder>
      <Title order={2} size="h3" mb="sm">
        Groups
      </Title>
      <ErrorAlert error={list.error ?? create.error} />
      <Table>
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Group</Table.Th>
            <Table.Th>Members</Table.Th>
            <Table.Th>Actions</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {(list.data?.data ?? []).map((g) => (
            <Table.Tr key={g.id}>
              <Table.Td>{g.name}</Table.Td>
              <Table.Td>{g.memberCount}</Table.Td>
              <Table.Td>
                <Button
                  size="xs"
                  variant={open === g.id ? 'light' : 'subtle'}
                  aria-label={`Members of ${g.name}`}
                  aria-expanded={open === g.id}
                  onClick={() => setOpen(open === g.id ? undefined : g.id)}
                >
                  Members
                </Button>
              </Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
      {open && <GroupMembers groupId={open} />}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate();
        }}
      >
        <Group align="flex-end" mt="md">
          <TextInput
            label="New group"
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            required
          />
          <Button type="submit" loading={create.isPending}>
            Create group
          </Button>
        </Group>
      </form>
    </Card>
  );
}

/** Members and their roles, invitations (the token shown once), and groups. */
export default function People() {
  const { can } = useSession();
  const client = useQueryClient();
  const users = useQuery({ queryKey: ['users'], queryFn: () => must(api.GET('/v1/users')) });
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<Role>('member');
  const [invitation, setInvitation] = useState<string>();
  const [invitee, setInvitee] = useState('');
  const invite = useMutation({
    mutationFn: () => must(api.POST('/v1/users/invitations', { body: { email, role } })),
    onSuccess: (inv) => {
      setInvitation(inv.token);
      setInvitee(inv.email);
      setEmail('');
      void client.invalidateQueries({ queryKey: ['users'] });
    },
  });
  return (
    <Page title="People" intro="Who belongs to this tenant, with which role and groups.">
      {invitation && (
        <ShownOnce
          label={`Invitation token for ${invitee} (shown once, valid 72 h): they paste it under “Invitation” on the sign-in page`}
          value={invitation}
          onDone={() => setInvitation(undefined)}
        />
      )}
      <ErrorAlert error={users.error ?? invite.error} />
      <Card withBorder>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            invite.mutate();
          }}
        >
          <Group align="flex-end">
            <TextInput
              label="Invite by e-mail"
              type="email"
              value={email}
              onChange={(e) => setEmail(e.currentTarget.value)}
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
            <Button type="submit" loading={invite.isPending}>
              Invite
            </Button>
          </Group>
        </form>
      </Card>
      <SimpleGrid cols={{ base: 1, lg: 2 }}>
        <Card withBorder>
          <Title order={2} size="h3" mb="sm">
            Members
          </Title>
          <Table>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>E-mail</Table.Th>
                <Table.Th>Name</Table.Th>
                <Table.Th>Role</Table.Th>
                <Table.Th>Groups</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {(users.data?.data ?? []).map((u) => (
                <Table.Tr key={u.id}>
                  <Table.Td>{u.email}</Table.Td>
                  <Table.Td>{u.displayName}</Table.Td>
                  <Table.Td>
                    <Badge variant="light">{u.role}</Badge>
                  </Table.Td>
                  <Table.Td>{u.groups.join(', ')}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Card>
        {can('groups:manage') && <Groups />}
      </SimpleGrid>
      {can('identity:manage') && <IdentitySettings />}
    </Page>
  );
}
