/**
 * Chooses the store from the configuration: MongoDB when MONGODB_URI is set, the embedded SQLite
 * store otherwise. The MongoDB store (and mongoose) is loaded only when it is used: it adds about
 * 0.2-0.4 s and 20 MB to a start-up that does not need it.
 */
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { SqliteStore } from './sqlite.js';
import { DataDirError } from '../data-dir.js';
import type { Store } from './store.js';

export async function openStore(config: Config, logger: Logger): Promise<Store> {
  if (config.mongodbUri) {
    const { MongoStore } = await import('./mongo.js');
    const store = await MongoStore.connect(config.mongodbUri);
    logger.info({ db: store.dbName }, 'using the MongoDB store');
    return store;
  }
  logger.info({ path: config.sqlitePath, synchronous: config.sqliteSynchronous }, 'using the embedded SQLite store');
  try {
    return new SqliteStore(config.sqlitePath, { synchronous: config.sqliteSynchronous });
  } catch (err) {
    // The file cannot be opened or written (permissions, a read-only disk, not a database): say which setting.
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && /^SQLITE_(CANTOPEN|READONLY|PERM|IOERR|NOTADB|CORRUPT|FULL)/.test(code)) {
      throw new DataDirError(config.dataDir, `holds ${config.sqlitePath}, which cannot be used as the bot's database (${code})`);
    }
    throw err;
  }
}
