import { describe, expect, it } from 'vitest';
import { ibanValid, luhnValid, maskPii } from './pii.js';

const masked = (s: string): string => maskPii(s).text;

describe('maskPii', () => {
  it('masks e-mail addresses', () => {
    expect(masked('Write to jane.doe+hr@example.co.uk today.')).toBe('Write to [EMAIL] today.');
    expect(maskPii('a@b.io and c.d@e-f.org').counts.email).toBe(2);
  });
  it('leaves things that only look like e-mail alone', () => {
    expect(masked('Use @mentions, user@localhost or the 2 @ 3 rule.')).toBe(
      'Use @mentions, user@localhost or the 2 @ 3 rule.',
    );
  });

  it('masks phone numbers in common formats', () => {
    expect(masked('Call (415) 555-0132 or 415-555-0132.')).toBe('Call [PHONE] or [PHONE].');
    expect(masked('Office: +44 20 7946 0958.')).toBe('Office: [PHONE].');
    expect(masked('Toll free 1-800-555-0199')).toBe('Toll free [PHONE]');
    expect(masked('Fax 415.555.0132')).toBe('Fax [PHONE]');
  });
  it('does not mask dates, years, versions or short numbers as phones', () => {
    const text = 'On 2015-11-30, version 1.2.3 sold 1,234,567 units in 2021 (room 555-0132).';
    expect(masked(text)).toBe(text);
  });

  it('masks US social security numbers', () => {
    expect(masked('SSN 123-45-6789.')).toBe('SSN [SSN].');
  });
  it('does not mask never-issued SSN patterns or undashed digit runs', () => {
    const text =
      'Numbers 000-12-3456, 666-12-3456, 912-34-5678, 123-00-4567, 123-45-0000 and 123456789.';
    expect(masked(text)).toBe(text);
  });

  it('masks payment card numbers that pass the Luhn check', () => {
    expect(masked('Visa 4111 1111 1111 1111, MC 5500-0000-0000-0004, Amex 378282246310005.')).toBe(
      'Visa [CARD], MC [CARD], Amex [CARD].',
    );
  });
  it('leaves digit runs that fail the Luhn check', () => {
    const text = 'Order 4111 1111 1111 1112 and tracking 1234567890123.';
    expect(masked(text)).toBe(text);
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
  });

  it('masks IBANs with a valid mod-97 checksum, grouped or not', () => {
    expect(masked('Pay GB82 WEST 1234 5698 7654 32 now')).toBe('Pay [IBAN] now');
    expect(masked('IBAN DE89370400440532013000.')).toBe('IBAN [IBAN].');
  });
  it('leaves IBAN-shaped strings with a wrong checksum', () => {
    const text = 'Ref GB82 WEST 1234 5698 7654 33 and DE00370400440532013000.';
    expect(masked(text)).toBe(text);
    expect(ibanValid('GB82WEST12345698765432')).toBe(true);
    expect(ibanValid('GB82WEST12345698765433')).toBe(false);
  });

  it('counts each kind and keeps the rest of the text intact', () => {
    const r = maskPii('Jane (jane@acme.com, 415-555-0132) paid with 4111111111111111.');
    expect(r.text).toBe('Jane ([EMAIL], [PHONE]) paid with [CARD].');
    expect(r.counts).toEqual({ email: 1, phone: 1, ssn: 0, card: 1, iban: 0 });
  });
});
