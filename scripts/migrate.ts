/**
 * Moves an embedded deployment's data into MongoDB:
 *
 *   npm run migrate -- --from sqlite --to mongodb
 *
 * Reads digit4sd.sqlite under DATA_DIR and writes into the database of MONGODB_URI (both from the
 * environment, read by src/config.ts). Idempotent: running it again gives the same result (documents
 * are replaced by key with the source's values; scores are never added twice), and a learner or
 * group that is already newer in MongoDB is kept. Shows a progress bar on stderr when it is a
 * terminal. Stop the bot (or keep it on SQLite) while this runs, then start it with MONGODB_URI set.
 */
import { loadConfig } from '../src/config.js';
import { MongoStore } from '../src/store/mongo.js';
import { migrateSqlite, openSqliteSource, readEventIdKey, renderProgress } from '../src/store/migrate.js';

const USAGE = 'usage: npm run migrate -- --from sqlite --to mongodb [--batch 500]';

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(argv: string[]): Promise<void> {
  const from = arg(argv, '--from');
  const to = arg(argv, '--to');
  if (from !== 'sqlite' || to !== 'mongodb') throw new Error(`only --from sqlite --to mongodb is supported (got --from ${from ?? '(none)'} --to ${to ?? '(none)'}).\n${USAGE}`);
  const batchSize = Number(arg(argv, '--batch') ?? 500);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`--batch must be a whole number above 0.\n${USAGE}`);

  const config = loadConfig(process.env);
  if (!config.mongodbUri) throw new Error('MONGODB_URI is not set. Fix: set MONGODB_URI to the MongoDB server to migrate into.');
  const source = openSqliteSource(config.sqlitePath);
  // The embedded store's event-id key goes along, so that its processed-event records stay valid.
  const eventIdKey = readEventIdKey(source);
  const store = await MongoStore.connect(config.mongodbUri, eventIdKey ? { eventIdKey } : {});
  const tty = process.stderr.isTTY === true;
  try {
    process.stderr.write(`migrating ${config.sqlitePath} into MongoDB database "${store.dbName}"\n`);
    const summary = await migrateSqlite(source, store, {
      batchSize,
      onProgress: (done, total) => {
        if (tty) process.stderr.write(`\r${renderProgress(done, total)}`);
      },
    });
    if (tty) process.stderr.write('\n');
    process.stderr.write(
      `done: ${summary.read} rows read, ${summary.written} written` +
        (summary.keptNewer ? `, ${summary.keptNewer} kept because MongoDB already had a newer version` : '') +
        '\n',
    );
  } finally {
    source.close();
    await store.close();
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`migration failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
