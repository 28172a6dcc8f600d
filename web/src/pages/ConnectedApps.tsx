import { Alert, Button, Table, Text, VisuallyHidden } from '@mantine/core';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { must } from '../api/problem';
import { useSession } from '../auth/session';
import { confirmed } from '../components/Confirm';
import { Page } from '../components/Page';
import { ErrorAlert } from '../components/Status';
import { WideTable } from '../components/WideTable';

const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : '—');

/** The applications the signed-in person allowed to use Rampart as them; revoke any of them. */
export default function ConnectedApps() {
  const client = useQueryClient();
  const { me } = useSession();
  const grants = useQuery({
    queryKey: ['oauth-grants'],
    queryFn: () => must(api.GET('/v1/me/oauth-grants')),
  });
  const revoke = useMutation({
    mutationFn: (id: string) =>
      must(api.DELETE('/v1/me/oauth-grants/{id}', { params: { path: { id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ['oauth-grants'] }),
  });
  const rows = grants.data?.data ?? [];
  return (
    <Page
      title="Connected applications"
      intro="Applications you allowed to use Rampart as you (MCP clients such as desktop assistants and IDEs)."
    >
      {!me.principal.userId && (
        <Alert color="gray" title="Signed in with an API key">
          Applications are connected by a person: sign in with your password or single sign-on to
          see yours.
        </Alert>
      )}
      <ErrorAlert error={grants.error ?? revoke.error} />
      {grants.isSuccess && rows.length === 0 && (
        <Text c="dimmed">No application is connected. One asks when you first use it.</Text>
      )}
      {rows.length > 0 && (
        <WideTable label="Connected applications" minWidth={760}>
          <Table striped>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Application</Table.Th>
                <Table.Th>Returns to</Table.Th>
                <Table.Th>Allowed</Table.Th>
                <Table.Th>Last refreshed</Table.Th>
                <Table.Th>Ends</Table.Th>
                <Table.Th>
                  <VisuallyHidden>Actions</VisuallyHidden>
                </Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((g) => {
                const name = g.clientName ?? 'Unnamed application';
                return (
                  <Table.Tr key={g.id} data-testid="connected-app">
                    <Table.Td>
                      <Text size="sm" fw={600}>
                        {name}
                      </Text>
                      <Text size="xs" c="dimmed">
                        {g.clientId}
                      </Text>
                    </Table.Td>
                    <Table.Td>{g.redirectHosts.join(', ')}</Table.Td>
                    <Table.Td>{when(g.grantedAt)}</Table.Td>
                    <Table.Td>{when(g.lastRefreshedAt)}</Table.Td>
                    <Table.Td>{when(g.expiresAt)}</Table.Td>
                    <Table.Td>
                      <Button
                        size="xs"
                        variant="subtle"
                        color="red"
                        aria-label={`Revoke ${name}`}
                        loading={revoke.isPending && revoke.variables === g.id}
                        onClick={() =>
                          confirmed(
                            `Revoke ${name}? Its access and refresh tokens stop working; it must ask again.`,
                          ) && revoke.mutate(g.id)
                        }
                      >
                        Revoke
                      </Button>
                    </Table.Td>
                  </Table.Tr>
                );
              })}
            </Table.Tbody>
          </Table>
        </WideTable>
      )}
    </Page>
  );
}
