/**
 * PII masking applied to extracted text before it is chunked, embedded or indexed: what search
 * returns is the masked text. Candidates are found by pattern and, where a checksum exists
 * (payment cards: Luhn; IBAN: ISO 7064 mod-97), only masked when the checksum holds, so order
 * numbers and other long digit runs survive.
 */

export type PiiKind = 'email' | 'phone' | 'ssn' | 'card' | 'iban';

export interface MaskResult {
  text: string;
  counts: Record<PiiKind, number>;
}

const TOKEN: Record<PiiKind, string> = {
  email: '[EMAIL]',
  phone: '[PHONE]',
  ssn: '[SSN]',
  card: '[CARD]',
  iban: '[IBAN]',
};

const EMAIL =
  /(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}(?![\w-])/g;
// Two-letter country, two check digits, then 11-30 alphanumerics, optionally in groups of four.
const IBAN = /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}(?![A-Za-z0-9])/g;
// 13-19 digits, optionally separated by single spaces or hyphens.
const CARD = /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/g;
// Area 000, 666 and 9xx, group 00 and serial 0000 are never issued.
const SSN = /(?<![\d-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\d-])/g;
// International (+CC …) or North American ((555) 555-0100, 555-555-0100, 555.555.0100) numbers.
const PHONE =
  /(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}|(?:1[ .-])?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4})(?![\w-])/g;

/** Luhn checksum over a digit string. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** ISO 13616 check: move the first four characters to the end, letters to numbers, mod 97 = 1. */
export function ibanValid(candidate: string): boolean {
  const s = candidate.replace(/ /g, '').toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(s)) return false;
  const rearranged = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0);
    const value = code >= 65 ? String(code - 55) : ch;
    for (const digit of value) rem = (rem * 10 + (digit.charCodeAt(0) - 48)) % 97;
  }
  return rem === 1;
}

function digitCount(s: string): number {
  return s.replace(/\D/g, '').length;
}

/** Masks e-mail addresses, phone numbers, US SSNs, payment card numbers and IBANs. */
export function maskPii(text: string): MaskResult {
  const counts: Record<PiiKind, number> = { email: 0, phone: 0, ssn: 0, card: 0, iban: 0 };
  const replace = (
    input: string,
    re: RegExp,
    kind: PiiKind,
    accept: (m: string) => boolean = () => true,
  ): string =>
    input.replace(re, (m) => {
      if (!accept(m)) return m;
      counts[kind] += 1;
      return TOKEN[kind];
    });
  // Checksummed kinds first, so a card number is never half-eaten by the phone pattern.
  let out = replace(text, EMAIL, 'email');
  out = replace(out, IBAN, 'iban', ibanValid);
  out = replace(out, CARD, 'card', (m) => luhnValid(m.replace(/[ -]/g, '')));
  out = replace(out, SSN, 'ssn');
  out = replace(out, PHONE, 'phone', (m) => {
    const n = digitCount(m);
    return n >= 10 && n <= 15;
  });
  return { text: out, counts };
}
