/**
 * Chooses the store from the configuration: MongoDB when MONGODB_URI is set, the embedded SQLite
 * store otherwise.
 */
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { MongoStore } from './mongo.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export async function openStore(config: Config, logger: Logger): Promise<Store> {
  if (config.mongodbUri) {
    const store = await MongoStore.connect(config.mongodbUri);
    logger.info({ db: store.dbName }, 'using the MongoDB store');
    return store;
  }
  logger.info({ path: config.sqlitePath }, 'using the embedded SQLite store');
  return new SqliteStore(config.sqlitePath);
}
