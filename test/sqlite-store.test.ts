import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/store/sqlite.js';
import Database from 'better-sqlite3';
import { newLearnerState } from '../src/engine/state.js';
import { newGroupState } from '../src/engine/group.js';
import { storeContract } from './store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'digit4sd-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

storeContract('SqliteStore (in memory)', async () => new SqliteStore(':memory:'));
let n = 0;
storeContract('SqliteStore (file)', async () => new SqliteStore(join(dir, `contract-${++n}.sqlite`)));

describe('SqliteStore on disk', () => {
  it('keeps data across a reopen, as after a restart', async () => {
    const path = join(dir, 'reopen.sqlite');
    const a = new SqliteStore(path);
    const state = newLearnerState(new Date('2026-01-01T00:00:00Z'), 'es');
    await a.commitLearner({ key: { channel: 'console', userId: 'me' }, expectedVersion: 0, state, address: { channel: 'console', conversationId: 'me', kind: 'direct' }, nudgeAt: null, now: new Date() });
    await a.close();
    const b = new SqliteStore(path);
    expect((await b.getLearner({ channel: 'console', userId: 'me' }))?.state).toEqual(state);
    await b.close();
  });

  it('writes in WAL mode with synchronous=NORMAL by default and FULL when asked (SQLITE_SYNCHRONOUS)', async () => {
    const pragmas = (store: SqliteStore) => {
      const db = store['db'] as Database.Database;
      return { journal: db.pragma('journal_mode', { simple: true }), synchronous: db.pragma('synchronous', { simple: true }) };
    };
    const normal = new SqliteStore(join(dir, 'sync-normal.sqlite'));
    const full = new SqliteStore(join(dir, 'sync-full.sqlite'), { synchronous: 'full' });
    expect(pragmas(normal)).toEqual({ journal: 'wal', synchronous: 1 });
    expect(pragmas(full)).toEqual({ journal: 'wal', synchronous: 2 });
    await normal.close();
    await full.close();
  });

  it('adds the weekly-quiz column and its index to a file created before they existed', async () => {
    const path = join(dir, 'before-schedules.sqlite');
    const old = new Database(path);
    old.exec(`CREATE TABLE groups (channel TEXT NOT NULL, conversation_id TEXT NOT NULL, version INTEGER NOT NULL, state TEXT NOT NULL, address TEXT NOT NULL,
      closes_at INTEGER, PRIMARY KEY (channel, conversation_id))`);
    const address = { channel: 'slack' as const, conversationId: 'C1', kind: 'group' as const };
    old.prepare('INSERT INTO groups VALUES (?, ?, 1, ?, ?, NULL)').run('slack', 'C1', JSON.stringify(newGroupState('en')), JSON.stringify(address));
    old.close();
    for (let open = 0; open < 2; open++) {
      // Opening twice: the upgrade happens once and the second open finds nothing to do.
      const store = new SqliteStore(path);
      const key = { channel: 'slack' as const, conversationId: 'C1' };
      const rec = await store.getGroup(key);
      expect(rec?.state).toEqual(newGroupState('en'));
      if (open === 0) {
        const at = new Date('2026-03-06T15:00:00Z');
        expect(await store.commitGroup({ key, expectedVersion: 1, state: rec!.state, address, closesAt: null, nextQuizAt: at, now: new Date() })).toBe('committed');
      }
      expect(await store.groupQuizzesDue(new Date('2026-03-06T15:00:00Z'), 10)).toEqual([key]);
      await store.close();
    }
    const check = new Database(path, { readonly: true });
    expect(check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'groups_next_quiz_at'").get()).toEqual({ name: 'groups_next_quiz_at' });
    check.close();
  });

  it('fills the dashboard\'s learner columns of a file created before them, once, at open', async () => {
    const path = join(dir, 'before-dashboard.sqlite');
    const old = new Database(path);
    old.exec(`CREATE TABLE learners (channel TEXT NOT NULL, user_id TEXT NOT NULL, version INTEGER NOT NULL, state TEXT NOT NULL, address TEXT NOT NULL,
      updated_at INTEGER NOT NULL, nudge_at INTEGER, PRIMARY KEY (channel, user_id))`);
    const state = { ...newLearnerState(new Date('2026-01-01T00:00:00Z'), 'fr'), country: 'SN', position: { kind: 'card' as const, lessonId: 'l1', index: 2 } };
    old.prepare('INSERT INTO learners VALUES (?, ?, 1, ?, ?, 0, NULL)').run('telegram', 'u1', JSON.stringify(state), JSON.stringify({ channel: 'telegram', conversationId: 'u1', kind: 'direct' }));
    old.close();
    const store = new SqliteStore(path);
    const f = { from: new Date('2025-12-01T00:00:00Z'), to: new Date('2026-02-01T00:00:00Z') };
    expect(await store.learnerCounts(f)).toEqual([{ channel: 'telegram', lang: 'fr', country: 'SN', org: null, learners: 1 }]);
    expect(await store.stopPoints(f, new Date('2026-01-20T00:00:00Z'))).toEqual([{ kind: 'card', lessonId: 'l1', card: 2, itemId: null, learners: 1 }]);
    await store.close();
  });

  it('hashes the event ids of a file written before they were hashed, and leaves no raw id in it', async () => {
    const path = join(dir, 'raw-event-ids.sqlite');
    const old = new Database(path);
    old.pragma('journal_mode = WAL');
    old.exec('CREATE TABLE processed_events (channel TEXT NOT NULL, event_id TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (channel, event_id))');
    const raw = 'act:1700000000.000100:U0RAWUSER1:a:1700000001.2';
    old.prepare('INSERT INTO processed_events VALUES (?, ?, ?)').run('slack', raw, Date.now());
    old.close();
    const store = new SqliteStore(path);
    // A platform retry of that event is still recognised...
    expect(await store.isProcessed('slack', raw)).toBe(true);
    expect(await store.markProcessed('slack', raw, new Date())).toBe(false);
    await store.close();
    // ...and the id itself is in no byte of the files (hashed in place, then the file rewritten).
    for (const file of readdirSync(dir).filter((f) => f.startsWith('raw-event-ids.sqlite'))) {
      expect(readFileSync(join(dir, file)).includes(Buffer.from('U0RAWUSER1')), file).toBe(false);
    }
    // A second store on the file uses the same key.
    const again = new SqliteStore(path);
    expect(await again.isProcessed('slack', raw)).toBe(true);
    await again.close();
  });

  it('shares one file between two store instances (two processes) with version checks', async () => {
    const path = join(dir, 'shared.sqlite');
    const a = new SqliteStore(path);
    const b = new SqliteStore(path);
    const key = { channel: 'console' as const, userId: 'shared' };
    const address = { channel: 'console' as const, conversationId: 'shared', kind: 'direct' as const };
    const state = newLearnerState(new Date(), 'en');
    expect(await a.commitLearner({ key, expectedVersion: 0, state, address, nudgeAt: null, now: new Date() })).toBe('committed');
    expect(await b.commitLearner({ key, expectedVersion: 0, state, address, nudgeAt: null, now: new Date() })).toBe('conflict');
    expect(await b.commitLearner({ key, expectedVersion: 1, state, address, nudgeAt: null, now: new Date() })).toBe('committed');
    expect((await a.getLearner(key))?.version).toBe(2);
    await a.close();
    await b.close();
  });
});
