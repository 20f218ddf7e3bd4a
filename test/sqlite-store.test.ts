import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/store/sqlite.js';
import { newLearnerState } from '../src/engine/state.js';
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
