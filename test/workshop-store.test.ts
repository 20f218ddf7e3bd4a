import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe } from 'vitest';
import { MongoStore } from '../src/store/mongo.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { workshopStoreContract } from './store-workshop-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'digit4sd-ws-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

workshopStoreContract('SqliteStore (in memory)', async () => new SqliteStore(':memory:'));
let n = 0;
workshopStoreContract('SqliteStore (file)', async () => new SqliteStore(join(dir, `ws-${++n}.sqlite`)));

const uri = process.env.MONGODB_URI;
const dbName = `digit4sd_ws_test_${process.pid}_${Date.now().toString(36)}`;
if (!uri) console.log('MongoStore workshop contract tests skipped: MONGODB_URI is not set (point it at a MongoDB server to run them)');
describe.skipIf(!uri)('MongoStore workshops (skipped: MONGODB_URI is not set)', () => {
  const open = () => MongoStore.connect(uri!, { dbName, serverSelectionTimeoutMS: 5000 });
  afterAll(async () => {
    if (!uri) return;
    const store = await open();
    await store.dropDatabase();
    await store.close();
  });
  workshopStoreContract('MongoStore', open);
});
