/**
 * The secret that keys the hashes written to logs (`hashId`): `LOG_HASH_KEY` when set, otherwise a
 * random key generated once and kept in `DATA_DIR/log-hash.key` (readable by its owner only), so
 * that hashes stay comparable across restarts without anyone being able to reverse them by
 * hashing guessed ids (a fixed public salt allowed that in about a second).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The file under DATA_DIR that keeps a generated key. */
export const LOG_HASH_KEY_FILE = 'log-hash.key';

/**
 * The key for log hashes: `configured` (LOG_HASH_KEY) when given, else the one kept in `dataDir`,
 * generated on first use. The file is created exclusively, so two processes starting together
 * agree on one key.
 */
export function loadLogHashKey(configured: string | undefined, dataDir: string): Buffer {
  if (configured) return Buffer.from(configured, 'utf8');
  const path = join(dataDir, LOG_HASH_KEY_FILE);
  try {
    writeFileSync(path, randomBytes(32).toString('base64url') + '\n', { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const key = readFileSync(path, 'utf8').trim();
  if (key.length < 16) throw new Error(`${path} holds no usable key: delete it (a new one is generated) or set LOG_HASH_KEY`);
  return Buffer.from(key, 'utf8');
}
