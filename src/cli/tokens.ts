import type { Config } from '../config.js';
import { rotateSigningKey } from '../identity/index.js';
import { keyringFromSettings } from '../platform/secrets/envelope.js';
import { createRuntime } from '../runtime.js';

/** `rampart tokens rotate-key`: makes a new access-token signing key; prints its kid. */
export async function rotateKey(config: () => Config): Promise<void> {
  const cfg = config();
  const rt = await createRuntime(cfg);
  try {
    const keyring = keyringFromSettings(rt.masterKey, cfg.RAMPART_MASTER_KEY_PREVIOUS);
    const { kid, retired } = await rotateSigningKey(rt.db, keyring, cfg);
    process.stdout.write(
      `signing key ${kid} now signs; retired (still published until their tokens expire): ${retired.join(', ') || 'none'}\n`,
    );
  } finally {
    await rt.close();
  }
}
