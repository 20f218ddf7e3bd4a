/**
 * The operator's revocation command (`npm run certificate:revoke -- <id>`), as a function the
 * script and the tests call: it says what happened in one line, and whether it succeeded.
 */
import type { Store } from '../store/store.js';

export const REVOKE_USAGE = 'usage: npm run certificate:revoke -- <certificate id> (the id printed on the certificate and in its /verify/<id> link)';

export async function revokeCertificateCommand(store: Store, args: string[], now: Date): Promise<{ ok: boolean; message: string }> {
  // A pasted link works as well as the bare id.
  const id = args[0]?.trim().replace(/^.*\/verify\//, '').replace(/\.(json|jwt)$/, '');
  if (!id || args.length > 1) return { ok: false, message: REVOKE_USAGE };
  const record = await store.getCertificate(id);
  if (!record) return { ok: false, message: `no certificate has the id ${id}; check it against the certificate's link` };
  if (record.revokedAt) return { ok: true, message: `certificate ${id} was already revoked on ${record.revokedAt.toISOString()}` };
  await store.revokeCertificate(id, now);
  return { ok: true, message: `certificate ${id} (${record.achievement}) is revoked: its verification page now says so` };
}
