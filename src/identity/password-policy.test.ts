import { describe, expect, it } from 'vitest';
import { passwordProblems } from './password-policy.js';

describe('password rules (OWASP ASVS)', () => {
  it.each([
    ['short', 'Tr0ub4dor&3'],
    ['common', 'Password1234!'],
    ['common with digits', 'letmein123456'],
    ['sequence', 'abcdefghijklmn'],
    ['keyboard', 'qwertyuiopasdf'],
    ['repeated', 'aaaaaaaaaaaaaa'],
    ['pattern', 'abc1abc1abc1abc1'],
    ['own address', 'ada.lovelace-2026!'],
    ['too long', 'x'.repeat(129) + 'abcdef'],
  ])('refuses a %s password', (_what, pw) => {
    expect(passwordProblems(pw, { email: 'ada.lovelace@example.com' })).not.toEqual([]);
  });

  it.each(['correct horse battery staple', 'Gl4cier-Otter-Minute', 'ünïcödé pässwörd ✓ 42'])(
    'accepts %s',
    (pw) => {
      expect(passwordProblems(pw, { email: 'ada.lovelace@example.com' })).toEqual([]);
    },
  );
});
