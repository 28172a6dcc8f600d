/**
 * Every action the application writes to the audit log, as `<noun>.<past participle>`: what
 * happened to what. A union rather than `string`, so a new or misspelled action does not
 * compile; actions.test.ts checks each against the pattern.
 */
export const AUDIT_ACTIONS = [
  'tenant.created',
  'export.requested',
  'export.completed',
  'export.downloaded',
  'erasure.requested',
  'erasure.completed',
  'api_key.created',
  'api_key.updated',
  'api_key.role_changed',
  'api_key.revoked',
  'auth.forbidden',
  'auth.unauthenticated',
  'user.added',
  'user.role_changed',
  'user.removed',
  'user.provisioned',
  'session.started',
  'user.sign_in_failed',
  'session.ended',
  'user.sessions_revoked',
  'session.revoked',
  'oidc_config.updated',
  'oidc_config.deleted',
  'identity_settings.updated',
  'jwt_trust.updated',
  'jwt_trust.deleted',
  'invitation.created',
  'invitation.accepted',
  'user.password_set',
  'user.password_replaced',
  'user.locked',
  'user.totp_enrolled',
  'user.recovery_code_used',
  'token.issued',
  'token.refreshed',
  'refresh_token.reused',
  'token.revoked',
  'oauth_client.registered',
  'oauth.authorized',
  'oauth.denied',
  'oauth_grant.revoked',
  'authorization_code.reused',
  'signing_key.rotated',
  'scim_token.created',
  'scim_token.deleted',
  'user.deactivated',
  'user.reactivated',
  'user.updated',
  'group.renamed',
  'group.created',
  'group.deleted',
  'group.member_added',
  'group.member_removed',
  'limits.updated',
  'plan.assigned',
  'invoice.closed',
  'billing_credit.granted',
  'price.set',
  'price.removed',
  'route.created',
  'route.updated',
  'route.deleted',
  'provider.created',
  'provider.updated',
  'provider.deleted',
  'document.created',
  'document.deleted',
  'knowledge_settings.updated',
  'governance_data_policy.updated',
  'agent.created',
  'agent.updated',
  'agent.deleted',
  'tool.created',
  'tool.updated',
  'tool.deleted',
  'approval.granted',
  'approval.denied',
  'sql_source.created',
  'sql_source.updated',
  'sql_source.deleted',
  'sql_source.schema_refreshed',
  'sql_source.annotations_updated',
  'sql_source.policies_updated',
  'sql.queried',
  'sql.refused',
  'sql.asked',
  'eval_dataset.created',
  'eval_run.created',
  'feedback.recorded',
  'webhook.created',
  'webhook.updated',
  'webhook.deleted',
  'webhook.secret_rotated',
  'webhook.pinged',
  'webhook_delivery.retried',
  'billing_customer.updated',
  'billing.exported',
  'mcp_server.created',
  'mcp_server.updated',
  'mcp_server.deleted',
  'mcp_server.refreshed',
  'retention.updated',
  'retention.applied',
  'legal_hold.placed',
  'legal_hold.released',
  'tenant.disabled',
  'tenant.restored',
  'tenant.purged',
  'mcp_server.client_registered',
  'mcp_connection.started',
  'mcp_connection.connected',
  'mcp_connection.refused',
  'mcp_connection.deleted',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/**
 * Names earlier versions wrote, and the canonical name each now reads as. Stored events keep
 * the name they were written with: the name is part of the hashed fields, so rewriting it
 * would break the tenant's chain (decision 003). Reads map it instead.
 */
export const LEGACY_ACTIONS: Readonly<Record<string, AuditAction>> = {
  'document.create': 'document.created',
  'document.delete': 'document.deleted',
  'knowledge.settings.update': 'knowledge_settings.updated',
};

/** The canonical name of a stored action (itself when it is not a legacy name). */
export function canonicalAction(stored: string): string {
  return Object.hasOwn(LEGACY_ACTIONS, stored) ? (LEGACY_ACTIONS[stored] ?? stored) : stored;
}

/** Every stored name that reads as `action`: the name itself and any legacy name it replaced. */
export function storedNamesFor(action: string): string[] {
  const canonical = canonicalAction(action);
  const legacy = Object.entries(LEGACY_ACTIONS)
    .filter(([, now]) => now === canonical)
    .map(([old]) => old);
  return [canonical, ...legacy];
}
