import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * Signed, expiring download links for export archives: HMAC-SHA256 over tenant, export and expiry
 * under a key derived from the server secret for this purpose only. The link is a bearer
 * credential for one archive until it expires (EXPORT_LINK_TTL_SECONDS); every download is audited.
 */
function linkKey(serverSecret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', serverSecret, '', 'rampart export link v1', 32));
}

function signature(
  serverSecret: string,
  tenantId: string,
  exportId: string,
  expires: number,
): string {
  return createHmac('sha256', linkKey(serverSecret))
    .update(`rampart-export-link-v1\n${tenantId}\n${exportId}\n${expires}`)
    .digest('hex');
}

export interface ExportLink {
  url: string;
  expiresAt: string;
}

export function signExportLink(
  serverSecret: string,
  tenantId: string,
  exportId: string,
  ttlSeconds: number,
  now = Date.now(),
): ExportLink {
  const expires = Math.floor(now / 1000) + ttlSeconds;
  const sig = signature(serverSecret, tenantId, exportId, expires);
  return {
    url: `/v1/exports/${exportId}/archive?tenant=${tenantId}&expires=${expires}&sig=${sig}`,
    expiresAt: new Date(expires * 1000).toISOString(),
  };
}

export type LinkVerdict = 'valid' | 'invalid' | 'expired';

export function checkExportLink(
  serverSecret: string,
  q: { tenantId: string; exportId: string; expires: number; sig: string },
  now = Date.now(),
): LinkVerdict {
  const expected = Buffer.from(signature(serverSecret, q.tenantId, q.exportId, q.expires), 'hex');
  const given = Buffer.from(q.sig, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
  return q.expires * 1000 <= now ? 'expired' : 'valid';
}
