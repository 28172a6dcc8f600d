import { withQuota, type QuotaGate } from '../platform/quota.js';
import { createHmac, randomBytes, randomInt } from 'node:crypto';
import * as argon2 from 'argon2';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Secret, TOTP } from 'otpauth';
import { appendAuditEvent, auditSuccess, type AuditAction } from '../audit/service.js';
import type { Database, TenantTx } from '../platform/db/database.js';
import {
  Conflict,
  Forbidden,
  InvalidInput,
  NotFound,
  RateLimited,
  ServiceUnavailable,
  Unauthorized,
} from '../platform/http/errors.js';
import { actorOf, type Principal, type RequestMeta } from '../platform/http/principal.js';
import type { Keyring } from '../platform/secrets/envelope.js';
import { openEnvelope, sealEnvelope } from '../platform/secrets/envelope-json.js';
import {
  acceptInvitation,
  clearFailures,
  claimTotpStep,
  confirmTotp,
  credentialByEmail,
  credentialOf,
  findInvitationByHash,
  insertInvitation,
  localAccountsEnabled,
  recordFailure,
  setLocalAccountsEnabled,
  setPassword,
  setTotpPending,
  useRecoveryCode,
  type CredentialRow,
} from './local-store.js';
import { SharedLoginThrottle, delayAfter, type ThrottleRedis } from './login-throttle.js';
import { getOidcConfig } from './oidc-store.js';
import { passwordProblems } from './password-policy.js';
import type { Role } from './permissions.js';
import { assertMayGrant, auditingRefusals } from './role-guard.js';
import type { SessionService } from './sessions-service.js';
import { findTenantBySlug } from './tenants-store.js';
import { ensureUser, getMember, insertMembership } from './users-store.js';

/** argon2id at OWASP's minimum cost (19 MiB, 2 passes, 1 lane): about 30 ms here. */
const ARGON2: argon2.HashOptions = {
  type: argon2.argon2id,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
};
const INVITATION_TTL_MS = 72 * 3_600_000;
/** Failures of one account before its lock starts; then 1 s, 2 s, 4 s … up to 15 min. */
const FREE_FAILURES = 5;
const RECOVERY_CODES = 10;

const INVALID = 'Wrong e-mail address or password.';

export interface InvitationView {
  id: string;
  email: string;
  role: string;
  expiresAt: string;
  token: string;
  acceptUrl: string;
}

/** Invited local accounts: passwords (argon2id), TOTP with recovery codes, throttled sign-in. */
export class LocalAccountService {
  readonly accounts: SharedLoginThrottle;
  /** An address may be shared (an office, a NAT): it gets more free failures than an account. */
  readonly addresses: SharedLoginThrottle;
  #dummyHash: Promise<string>;

  constructor(
    private readonly db: Database,
    private readonly serverSecret: string,
    private readonly keyring: Keyring | undefined,
    private readonly sessions: SessionService,
    private readonly publicUrl: string,
    /** Shares the sign-in throttle between instances; in-process without it. */
    redis?: ThrottleRedis,
    private readonly quotas?: QuotaGate | undefined,
  ) {
    this.accounts = new SharedLoginThrottle(FREE_FAILURES, redis);
    this.addresses = new SharedLoginThrottle(4 * FREE_FAILURES, redis);
    // Verified against when the account does not exist, so both answers take as long.
    this.#dummyHash = argon2.hash(randomBytes(16).toString('hex'), ARGON2);
  }

  #hash(kind: string, value: string): Buffer {
    return createHmac('sha256', this.serverSecret).update(`${kind}:${value}`).digest();
  }

  async invite(
    principal: Principal,
    input: { email: string; role: Role; displayName?: string | undefined },
    meta: RequestMeta,
  ): Promise<InvitationView> {
    return auditingRefusals(this.db, principal, meta, { type: 'invitation', id: null }, () => {
      assertMayGrant(principal, input.role);
      // A pending invitation holds a seat (the plan's seats quota), as a member does.
      return withQuota(
        this.quotas,
        principal,
        ['seats'],
        () => ({ seats: 1 }),
        () => this.#invite(principal, input, meta),
        () => ({ seats: 1 }),
      );
    });
  }

  #invite(
    principal: Principal,
    input: { email: string; role: Role; displayName?: string | undefined },
    meta: RequestMeta,
  ): Promise<InvitationView> {
    const token = `rmi_${randomBytes(32).toString('base64url')}`;
    return this.db.withTenant(principal, async (tx) => {
      if (!(await localAccountsEnabled(tx)))
        throw new Conflict(
          'Local accounts are disabled for this tenant.',
          'local_accounts_disabled',
        );
      const row = await insertInvitation(tx, {
        email: input.email.toLowerCase(),
        role: input.role,
        displayName: input.displayName ?? '',
        tokenHash: this.#hash('invitation', token),
        createdBy: `${actorOf(principal).type}:${actorOf(principal).id ?? ''}`,
        expiresAt: new Date(Date.now() + INVITATION_TTL_MS),
      });
      await auditSuccess(
        tx,
        principal,
        meta,
        'invitation.created',
        { type: 'invitation', id: row.id },
        { email: row.email, role: row.role, expiresAt: row.expires_at.toISOString() },
      );
      return {
        id: row.id,
        email: row.email,
        role: row.role,
        expiresAt: row.expires_at.toISOString(),
        token,
        acceptUrl: `${this.publicUrl}/auth/invitations/accept`,
      };
    });
  }

  /**
   * The invited person sets a password: the member is created (or, for a member who already
   * has one, the password is reset, clearing the second factor). One use per invitation.
   */
  async accept(
    input: { token: string; password: string },
    meta: RequestMeta,
  ): Promise<{ tenant: string; userId: string; email: string }> {
    const found = await this.db.withOperator((op) =>
      findInvitationByHash(op, this.#hash('invitation', input.token)),
    );
    if (!found || found.accepted_at || found.expires_at.getTime() <= Date.now())
      throw new Unauthorized('This invitation is unknown, used or expired.', 'invalid_invitation');
    const problems = passwordProblems(input.password, {
      email: found.email,
      tenantSlug: found.tenant_slug,
    });
    if (problems.length > 0)
      throw new InvalidInput(`The password ${problems.join('; ')}.`, {
        errors: problems.map((message) => ({ field: 'password', message })),
      });
    const hash = await argon2.hash(input.password, ARGON2);
    return this.db.withTenant({ tenantId: found.tenant_id, groups: [] }, async (tx) => {
      if (!(await localAccountsEnabled(tx)))
        throw new Conflict(
          'Local accounts are disabled for this tenant.',
          'local_accounts_disabled',
        );
      if (!(await acceptInvitation(tx, found.id)))
        throw new Unauthorized(
          'This invitation is unknown, used or expired.',
          'invalid_invitation',
        );
      const userId = await ensureUser(tx, found.email);
      await insertMembership(tx, userId, found.role, found.display_name);
      const existed = await setPassword(tx, userId, hash);
      const actor = { type: 'user' as const, id: userId };
      await appendAuditEvent(tx, {
        actor,
        action: 'invitation.accepted',
        target: { type: 'invitation', id: found.id },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: { email: found.email },
      });
      await appendAuditEvent(tx, {
        actor,
        action: existed ? 'user.password_replaced' : 'user.password_set',
        target: { type: 'user', id: userId },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
      });
      return { tenant: found.tenant_slug, userId, email: found.email };
    });
  }

  /**
   * Signs in with e-mail and password (and a TOTP or recovery code once enrolled). An unknown
   * address and a wrong password get the same answer after the same work; repeated failures
   * per account and per address are held off with growing delays (429).
   */
  async signIn(
    slug: string,
    input: { email: string; password: string; code?: string | undefined },
    request: FastifyRequest,
    reply: FastifyReply,
    meta: RequestMeta,
  ): Promise<{ userId: string }> {
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== new URL(this.publicUrl).origin)
      throw new Forbidden('Sign-in must come from Rampart’s own origin.', 'csrf_rejected');
    const email = input.email.toLowerCase();
    const tenant = await this.db.withOperator((op) => findTenantBySlug(op, slug));
    const accountKey = `acct:${tenant?.id ?? slug}:${email}`;
    const addressKey = `ip:${meta.ip}`;
    const wait = Math.max(
      await this.accounts.retryAfterMs([accountKey]),
      await this.addresses.retryAfterMs([addressKey]),
    );
    if (wait > 0) throw new RateLimited('Too many failed sign-ins; retry later.', wait / 1000);
    if (!tenant || tenant.slug.startsWith('_')) {
      await argon2.verify(await this.#dummyHash, input.password);
      await this.addresses.fail(addressKey);
      await this.accounts.fail(accountKey);
      throw new Unauthorized(INVALID, 'invalid_credentials');
    }
    const ctx = { tenantId: tenant.id, groups: [] };
    const { enabled, cred } = await this.db.withTenant(ctx, async (tx) => ({
      enabled: await localAccountsEnabled(tx),
      cred: await credentialByEmail(tx, email),
    }));
    if (!enabled)
      throw new Forbidden(
        'Local accounts are disabled for this tenant; sign in with SSO.',
        'local_accounts_disabled',
      );
    if (cred?.locked_until && cred.locked_until.getTime() > Date.now())
      throw new RateLimited(
        'Too many failed sign-ins; retry later.',
        (cred.locked_until.getTime() - Date.now()) / 1000,
      );
    const ok = await argon2.verify(cred?.password_hash ?? (await this.#dummyHash), input.password);
    if (!cred || !ok)
      return this.#failed(
        ctx,
        cred,
        accountKey,
        addressKey,
        meta,
        cred ? 'wrong_password' : 'unknown_user',
        INVALID,
      );
    if (cred.totp_secret) {
      if (!input.code)
        throw new Unauthorized(
          'A code from the authenticator app (or a recovery code) is required.',
          'second_factor_required',
        );
      if (!(await this.#secondFactorOk(ctx, cred, input.code)))
        return this.#failed(ctx, cred, accountKey, addressKey, meta, 'wrong_code', 'Wrong code.');
    }
    await this.accounts.succeed(accountKey);
    await this.db.withTenant(ctx, async (tx) => {
      await clearFailures(tx, cred.user_id);
      const session = await this.sessions.start(tx, cred.user_id, 'password', request, reply);
      await appendAuditEvent(tx, {
        actor: { type: 'user', id: cred.user_id },
        action: 'session.started',
        target: { type: 'session', id: session.id },
        outcome: 'success',
        ip: meta.ip,
        requestId: meta.requestId,
        details: { method: 'password', secondFactor: cred.totp_secret !== null },
      });
    });
    return { userId: cred.user_id };
  }

  async #secondFactorOk(
    ctx: { tenantId: string; groups: string[] },
    cred: CredentialRow,
    code: string,
  ): Promise<boolean> {
    const digits = code.replace(/\s/g, '');
    if (/^\d{6}$/.test(digits) && cred.totp_secret) {
      const secret = this.#ring().decrypt(
        openEnvelope(cred.totp_secret),
        this.#totpContext(ctx.tenantId, cred.user_id),
      );
      const totp = totpFor(secret, '');
      const delta = totp.validate({ token: digits, window: 1 });
      if (delta === null) return false;
      // A code already accepted (a replay, or one of an earlier step) is refused.
      const step = totp.counter() + delta;
      return this.db.withTenant(ctx, (tx) => claimTotpStep(tx, cred.user_id, step));
    }
    const hash = this.#hash(`recovery:${ctx.tenantId}:${cred.user_id}`, code.trim().toLowerCase());
    return this.db.withTenant(ctx, async (tx) => {
      const used = await useRecoveryCode(tx, cred.user_id, hash);
      if (used)
        await appendAuditEvent(tx, {
          actor: { type: 'user', id: cred.user_id },
          action: 'user.recovery_code_used',
          target: { type: 'user', id: cred.user_id },
          outcome: 'success',
        });
      return used;
    });
  }

  async #failed(
    ctx: { tenantId: string; groups: string[] },
    cred: CredentialRow | undefined,
    accountKey: string,
    addressKey: string,
    meta: RequestMeta,
    reason: string,
    message: string,
  ): Promise<never> {
    await this.addresses.fail(addressKey);
    await this.accounts.fail(accountKey);
    await this.db.withTenant(ctx, async (tx) => {
      let failures = 0;
      if (cred)
        failures = await recordFailure(tx, cred.user_id, (n) => {
          const ms = delayAfter(n, FREE_FAILURES, 1000, 15 * 60_000);
          return ms > 0 ? new Date(Date.now() + ms) : null;
        });
      await this.#audit(tx, 'user.sign_in_failed', cred?.user_id ?? null, meta, {
        method: 'password',
        reason,
      });
      if (failures === FREE_FAILURES + 1)
        await this.#audit(tx, 'user.locked', cred?.user_id ?? null, meta, { failures });
    });
    throw new Unauthorized(message, 'invalid_credentials');
  }

  async #audit(
    tx: TenantTx,
    action: AuditAction,
    userId: string | null,
    meta: RequestMeta,
    details: Record<string, unknown>,
  ): Promise<void> {
    await appendAuditEvent(tx, {
      actor: userId ? { type: 'user', id: userId } : { type: 'anonymous', id: null },
      action,
      target: { type: 'user', id: userId },
      outcome: action === 'user.locked' ? 'denied' : 'failure',
      ip: meta.ip,
      requestId: meta.requestId,
      details,
    });
  }

  #ring(): Keyring {
    if (!this.keyring)
      throw new ServiceUnavailable(
        'TOTP secrets cannot be stored: RAMPART_MASTER_KEY is not configured.',
        'master_key_missing',
      );
    return this.keyring;
  }

  #totpContext(tenantId: string, userId: string): string {
    return `totp:${tenantId}:${userId}`;
  }

  /** Starts TOTP enrolment for the signed-in person: a new secret, active once confirmed. */
  async startTotp(principal: Principal): Promise<{ secret: string; uri: string }> {
    const userId = this.#sessionUser(principal);
    const secret = new Secret({ size: 20 }).base32;
    const sealed = sealEnvelope(
      this.#ring().encrypt(secret, this.#totpContext(principal.tenantId, userId)),
    );
    const email = await this.db.withTenant(principal, async (tx) => {
      if (!(await credentialOf(tx, userId)))
        throw new Conflict('Set a password first (TOTP guards local sign-in).', 'no_password');
      await setTotpPending(tx, userId, sealed);
      return (await getMember(tx, userId))?.email ?? '';
    });
    return { secret, uri: totpFor(secret, email).toString() };
  }

  /** Confirms enrolment with a current code; returns the recovery codes (shown once). */
  async confirmTotp(
    principal: Principal,
    code: string,
    meta: RequestMeta,
  ): Promise<{ recoveryCodes: string[] }> {
    const userId = this.#sessionUser(principal);
    return this.db.withTenant(principal, async (tx) => {
      const cred = await credentialOf(tx, userId);
      if (!cred?.totp_pending) throw new NotFound('TOTP enrolment');
      const secret = this.#ring().decrypt(
        openEnvelope(cred.totp_pending),
        this.#totpContext(principal.tenantId, userId),
      );
      const totp = totpFor(secret, '');
      const delta = totp.validate({ token: code.replace(/\s/g, ''), window: 1 });
      if (delta === null)
        throw new InvalidInput('The code does not match; check the device clock and try again.');
      const codes = Array.from({ length: RECOVERY_CODES }, () => recoveryCode());
      await confirmTotp(
        tx,
        userId,
        codes.map((c) => this.#hash(`recovery:${principal.tenantId}:${userId}`, c)),
        // The confirming code is spent: it cannot then sign in.
        totp.counter() + delta,
      );
      await auditSuccess(tx, principal, meta, 'user.totp_enrolled', { type: 'user', id: userId });
      return { recoveryCodes: codes };
    });
  }

  #sessionUser(principal: Principal): string {
    if (principal.kind !== 'user' || !principal.userId)
      throw new Forbidden(
        'Only a signed-in person manages their own second factor.',
        'session_required',
      );
    return principal.userId;
  }

  async settings(principal: Principal): Promise<{ localAccountsEnabled: boolean }> {
    return {
      localAccountsEnabled: await this.db.withTenant(principal, (tx) => localAccountsEnabled(tx)),
    };
  }

  /** Turns local accounts on or off; off only once OIDC sign-in is configured. */
  async setSettings(
    principal: Principal,
    input: { localAccountsEnabled: boolean },
    meta: RequestMeta,
  ): Promise<{ localAccountsEnabled: boolean }> {
    await this.db.withTenant(principal, async (tx) => {
      if (!input.localAccountsEnabled && !(await getOidcConfig(tx)))
        throw new Conflict(
          'Connect an OpenID Connect provider before disabling local accounts.',
          'oidc_not_configured',
        );
      await setLocalAccountsEnabled(tx, input.localAccountsEnabled);
      await auditSuccess(
        tx,
        principal,
        meta,
        'identity_settings.updated',
        { type: 'identity_settings', id: principal.tenantId },
        input,
      );
    });
    return input;
  }
}

function totpFor(secret: string, label: string): TOTP {
  return new TOTP({
    issuer: 'Rampart',
    label: label || 'Rampart',
    algorithm: 'SHA1',
    digits: 6,
    period: 30,
    secret: Secret.fromBase32(secret),
  });
}

const RECOVERY_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

function recoveryCode(): string {
  const pick = () =>
    Array.from({ length: 5 }, () => RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)]).join(
      '',
    );
  return `${pick()}-${pick()}`;
}
