/**
 * Chooses the store from the configuration: MongoDB when MONGODB_URI is set, the embedded SQLite
 * store otherwise.
 */
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export async function openStore(config: Config, logger: Logger): Promise<Store> {
  if (config.mongodbUri) {
    throw new Error('MONGODB_URI is set, but the MongoDB store is not available in this build yet. Unset MONGODB_URI to use the embedded store.');
  }
  logger.info({ path: config.sqlitePath }, 'using the embedded SQLite store');
  return new SqliteStore(config.sqlitePath);
}
