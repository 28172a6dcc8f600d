/**
 * Password rules after OWASP ASVS (V2.1 / V6.2): at least 12 characters, at most 128, any
 * character allowed (no composition rules), checked against common and breached-pattern
 * passwords and against the account's own context. No network lookup: the list is embedded.
 */

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 128;

// The most common passwords of public breach corpora (lower-cased stems); a candidate whose
// letters-only or digits-stripped form is one of these is refused.
const COMMON = new Set(
  `password passw0rd p@ssword p@ssw0rd letmein welcome qwerty qwertyuiop asdfgh asdfghjkl zxcvbnm
   iloveyou admin administrator root monkey dragon football baseball basketball soccer hockey
   master shadow sunshine princess trustno1 superman batman starwars whatever freedom
   changeme secret login abc abcdef abcdefgh abcdefghijkl azerty hello hellohello
   charlie michael jennifer jordan hunter ranger buster thomas robert daniel
   summer winter spring autumn company business computer internet google samsung apple
   qazwsx 1qaz2wsx zaq12wsx 1q2w3e4r 1q2w3e4r5t qweasd qweasdzxc passwordpassword
   letmeinnow welcome1 default guest test testing tester user username`.split(/\s+/),
);

const SEQUENCES = [
  'abcdefghijklmnopqrstuvwxyz',
  '01234567890',
  'qwertyuiopasdfghjklzxcvbnm',
  'azertyuiopqsdfghjklmwxcvbn',
];

function codePoints(s: string): string[] {
  return [...s];
}

/** True when `s` is a run along (or back along) a sequence such as "abcdef" or "987654". */
function isSequence(s: string): boolean {
  if (s.length < 4) return false;
  return SEQUENCES.some((seq) => {
    const rev = [...seq].reverse().join('');
    return seq.includes(s) || rev.includes(s);
  });
}

/** The reasons a password is refused (empty when it is acceptable). */
export function passwordProblems(
  password: string,
  context: { email?: string; tenantSlug?: string } = {},
): string[] {
  const problems: string[] = [];
  const chars = codePoints(password);
  if (chars.length < MIN_PASSWORD_LENGTH)
    problems.push(`must be at least ${MIN_PASSWORD_LENGTH} characters`);
  if (chars.length > MAX_PASSWORD_LENGTH)
    problems.push(`must be at most ${MAX_PASSWORD_LENGTH} characters`);
  const lower = password.toLowerCase().normalize('NFKC');
  const letters = lower.replace(/[^a-z]/g, '');
  const stem = lower.replace(/[\d\W_]+$/u, '').replace(/^[\d\W_]+/u, '');
  if (COMMON.has(lower) || COMMON.has(letters) || COMMON.has(stem))
    problems.push('is a commonly used password');
  if (new Set(chars).size < 5) problems.push('repeats too few different characters');
  else if (isSequence(lower) || /^(.{1,4})\1+$/u.test(lower))
    problems.push('is a keyboard or alphabet sequence or a repeated pattern');
  const local = context.email?.toLowerCase().split('@')[0] ?? '';
  if (local.length >= 4 && lower.includes(local)) problems.push('contains the e-mail address');
  if (context.tenantSlug && context.tenantSlug.length >= 4 && lower.includes(context.tenantSlug))
    problems.push("contains the tenant's name");
  if (lower.includes('rampart')) problems.push("contains the service's name");
  return problems;
}
