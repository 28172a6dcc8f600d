/** The console's pages, each shown only to callers holding its permission. */
export interface NavItem {
  to: string;
  label: string;
  page: string;
  permission: string;
  /** An administration page (listed under "Admin"). */
  admin?: boolean;
}

export const NAV: NavItem[] = [
  { to: '/', label: 'Home', page: 'home', permission: 'usage:read' },
  { to: '/documents', label: 'Documents', page: 'documents', permission: 'documents:read' },
  { to: '/ask', label: 'Search and ask', page: 'ask', permission: 'documents:read' },
  { to: '/chat', label: 'Chat', page: 'chat', permission: 'gateway:invoke' },
  { to: '/agents', label: 'Agents', page: 'agents', permission: 'agents:run' },
  { to: '/approvals', label: 'Approvals', page: 'approvals', permission: 'agents:approve' },
  { to: '/sql', label: 'SQL', page: 'sql', permission: 'sql:query' },
  { to: '/usage', label: 'Usage', page: 'usage', permission: 'usage:read' },
  {
    to: '/connected-apps',
    label: 'Connected applications',
    page: 'connectedApps',
    permission: 'tenant:read',
  },
  { to: '/gateway', label: 'Gateway', page: 'gateway', permission: 'gateway:manage', admin: true },
  { to: '/keys', label: 'API keys', page: 'keys', permission: 'keys:manage', admin: true },
  { to: '/people', label: 'People', page: 'people', permission: 'users:manage', admin: true },
  { to: '/audit', label: 'Audit log', page: 'audit', permission: 'audit:read', admin: true },
];
