import { describe, expect, it } from 'vitest';
import {
  isAuthorizePath,
  rememberReturnPath,
  returnTargetOf,
  safeReturnPath,
  takeReturnPath,
} from './return-path';

const AUTHORIZE =
  '/oauth/authorize?client_id=rmc_abc&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&state=s%20t';

describe('safeReturnPath', () => {
  it('accepts the authorization endpoint and console pages, query and hash kept', () => {
    expect(safeReturnPath(AUTHORIZE)).toBe(AUTHORIZE);
    expect(safeReturnPath('/')).toBe('/');
    expect(safeReturnPath('/documents')).toBe('/documents');
    expect(safeReturnPath('/documents/0b0e6c1e-1111-4222-8333-444455556666')).toBe(
      '/documents/0b0e6c1e-1111-4222-8333-444455556666',
    );
    expect(safeReturnPath('/usage?days=7#top')).toBe('/usage?days=7#top');
    expect(safeReturnPath('/connected-apps')).toBe('/connected-apps');
  });

  it('refuses other origins, schemes and the ways parsers turn a path into a host', () => {
    for (const bad of [
      '//evil.example',
      '//evil.example/oauth/authorize',
      '/\\evil.example',
      '\\\\evil.example',
      '/\t/evil.example',
      '/\n/evil.example',
      ' /documents',
      'https://evil.example',
      'https://evil.example/oauth/authorize',
      'javascript:alert(1)',
      'data:text/html,x',
      'evil.example',
      'documents',
      '',
      '/documents\\..\\..\\evil',
    ])
      expect(safeReturnPath(bad), JSON.stringify(bad)).toBeUndefined();
  });

  it('refuses same-origin paths outside the known prefixes, also after normalising', () => {
    for (const bad of [
      '/v1/api-keys',
      '/auth/acme/login',
      '/auth/logout',
      '/oauth/token',
      '/oauth/authorize-other',
      '/mcp',
      '/admin/v1/tenants',
      '/documents/../v1/me',
      '/%2F%2Fevil.example',
      '/https://evil.example',
      '/keysx',
    ])
      expect(safeReturnPath(bad), bad).toBeUndefined();
    // `..` is resolved before the check: what is returned is what was checked.
    expect(safeReturnPath('/v1/../documents')).toBe('/documents');
  });

  it('refuses what is not a string, and very long values', () => {
    expect(safeReturnPath(undefined)).toBeUndefined();
    expect(safeReturnPath(null)).toBeUndefined();
    expect(safeReturnPath(['/documents'])).toBeUndefined();
    expect(safeReturnPath(`/documents?q=${'x'.repeat(9000)}`)).toBeUndefined();
  });
});

describe('returnTargetOf', () => {
  const at = (pathname: string, search = '', hash = '') => ({ pathname, search, hash });

  it('prefers the next parameter and ignores one that is not acceptable', () => {
    expect(returnTargetOf(at('/', `?next=${encodeURIComponent(AUTHORIZE)}`))).toBe(AUTHORIZE);
    expect(returnTargetOf(at('/', '?next=%2F%2Fevil.example'))).toBeUndefined();
    expect(returnTargetOf(at('/', '?next=https%3A%2F%2Fevil.example'))).toBeUndefined();
    // An unacceptable next does not fall back to the page either.
    expect(returnTargetOf(at('/documents', '?next=%2F%2Fevil.example'))).toBeUndefined();
  });

  it('returns to a deep link opened while signed out, not to Home', () => {
    expect(returnTargetOf(at('/documents/abc'))).toBe('/documents/abc');
    expect(returnTargetOf(at('/'))).toBeUndefined();
  });

  it('tells the authorization endpoint from console pages', () => {
    expect(isAuthorizePath(AUTHORIZE)).toBe(true);
    expect(isAuthorizePath('/oauth/authorize')).toBe(true);
    expect(isAuthorizePath('/documents')).toBe(false);
  });
});

describe('the return path across the single sign-on round trip', () => {
  const memory = () => {
    const m = new Map<string, string>();
    return {
      m,
      getItem: (k: string) => m.get(k) ?? null,
      setItem: (k: string, v: string) => void m.set(k, v),
      removeItem: (k: string) => void m.delete(k),
    };
  };

  it('is read once, and only while recent', () => {
    const s = memory();
    rememberReturnPath(AUTHORIZE, 1_000, s);
    expect(takeReturnPath(2_000, s)).toBe(AUTHORIZE);
    expect(takeReturnPath(2_000, s)).toBeUndefined();
    rememberReturnPath('/documents', 1_000, s);
    expect(takeReturnPath(1_000 + 11 * 60_000, s)).toBeUndefined();
    expect(s.m.size).toBe(0);
  });

  it('forgets an earlier path, and checks what it reads again', () => {
    const s = memory();
    rememberReturnPath('/documents', 1_000, s);
    rememberReturnPath(undefined, 1_000, s);
    expect(takeReturnPath(1_000, s)).toBeUndefined();
    s.setItem('rampart.returnTo', JSON.stringify({ path: '//evil.example', at: 1_000 }));
    expect(takeReturnPath(1_000, s)).toBeUndefined();
    s.setItem('rampart.returnTo', 'not json');
    expect(takeReturnPath(1_000, s)).toBeUndefined();
  });
});
