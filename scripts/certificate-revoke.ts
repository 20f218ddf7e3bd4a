/**
 * Revokes a certificate, so that its verification page says it was withdrawn:
 *
 *   npm run certificate:revoke -- <certificate id>
 *
 * The id is the one printed on the certificate and in its link (`/verify/<id>`). Uses the store the
 * bot uses (DATA_DIR or MONGODB_URI, read by src/config.ts). Revoking twice changes nothing.
 */
import { loadConfig } from '../src/config.js';
import { openStore } from '../src/store/open.js';
import { createLogger } from '../src/logger.js';
import { revokeCertificateCommand } from '../src/certificates/revoke.js';

const config = loadConfig(process.env);
const store = await openStore(config, createLogger('silent'));
try {
  const { message, ok } = await revokeCertificateCommand(store, process.argv.slice(2), new Date());
  (ok ? process.stdout : process.stderr).write(`${message}\n`);
  if (!ok) process.exitCode = 1;
} catch (err) {
  process.stderr.write(`revocation failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
} finally {
  await store.close();
}
