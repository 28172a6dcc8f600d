import { createHash } from 'node:crypto';
import type { FastifyReply } from 'fastify';

/**
 * The authorization server's consent page, rendered on the server: a form the person submits,
 * no script at all (without a session, /oauth/authorize sends the person to the console's
 * sign-in instead). Every value is escaped; the policy allows no script, only the page's own
 * style block (by hash), no framing, and form submission only to Rampart and to the client's
 * redirect origin (a browser applies form-action to the redirect that follows the POST).
 */

const STYLE = `body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#1a1b1e}
h1{font-size:1.4rem}dl{display:grid;grid-template-columns:auto 1fr;gap:.4rem 1rem}dt{color:#555}dd{margin:0;word-break:break-all}
.actions{display:flex;gap:1rem;margin-top:1.5rem}button{font-size:1rem;padding:.5rem 1.2rem;cursor:pointer}
.note{color:#555;font-size:.9rem}`;
const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');

function escapeHtml(value: string): string {
  return value.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

function send(reply: FastifyReply, formOrigins: string[], title: string, body: string) {
  const csp = [
    "default-src 'none'",
    `style-src 'sha256-${STYLE_HASH}'`,
    `form-action 'self' ${formOrigins.join(' ')}`.trim(),
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
  return (
    reply
      .header('content-security-policy', csp)
      .header('x-frame-options', 'DENY')
      .header('x-content-type-options', 'nosniff')
      // Not no-referrer: a browser then sends `Origin: null` with the form's POST (Fetch, "append a
      // request Origin header"), which the consent check refuses. Same-origin keeps the Origin and
      // still sends no Referer to the client's redirect URI.
      .header('referrer-policy', 'same-origin')
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(
        `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body><main>${body}</main></body></html>`,
      )
  );
}

export interface ConsentView {
  clientName: string | null;
  clientId: string;
  redirectUri: string;
  tenantSlug: string;
  person: string;
  resource: string;
  /** The validated authorization request, sent back with the decision. */
  fields: Record<string, string>;
  csrf: string;
}

/** The consent page: who asks, where the answer goes, for which tenant and person. */
export function sendConsentPage(reply: FastifyReply, v: ConsentView): FastifyReply {
  const redirect = new URL(v.redirectUri);
  const name = v.clientName ?? 'An unnamed application';
  const hidden = Object.entries({ ...v.fields, csrf: v.csrf })
    .map(([k, val]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(val)}">`)
    .join('');
  const body = `<h1>Allow ${escapeHtml(name)} to use Rampart as you?</h1>
<p>It will call Rampart's MCP tools with your permissions until you revoke it or your access ends.</p>
<dl><dt>Application</dt><dd>${escapeHtml(name)} <span class="note">(${escapeHtml(v.clientId)}; the name is the application's own claim)</span></dd>
<dt>Returns to</dt><dd>${escapeHtml(redirect.host)}</dd>
<dt>Tenant</dt><dd>${escapeHtml(v.tenantSlug)}</dd>
<dt>You</dt><dd>${escapeHtml(v.person)}</dd>
<dt>Resource</dt><dd>${escapeHtml(v.resource)}</dd></dl>
<form method="post" action="/oauth/authorize">${hidden}<div class="actions">
<button type="submit" name="decision" value="approve">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button></div></form>`;
  return send(reply, [redirect.origin], `Allow ${name}?`, body);
}
