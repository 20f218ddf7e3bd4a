import Database from 'better-sqlite3';
import { join } from 'node:path';
import { expect, vi } from 'vitest';

/**
 * Waits until the embedded store in `dataDir` (a bot running in another process) has no unapplied
 * inbox event and no unsent outbox row left: what a kill -9 test waits for before its bounded quiet
 * window, since rows the killed process had claimed go again only once their claim runs out.
 */
export async function drained(dataDir: string, timeout = 30_000): Promise<void> {
  const db = new Database(join(dataDir, 'digit4sd.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const left = db.prepare<[], { n: number }>('SELECT (SELECT count(*) FROM inbox WHERE applied_at IS NULL) + (SELECT count(*) FROM outbox WHERE done_at IS NULL) AS n');
    await vi.waitFor(() => expect(left.get()!.n).toBe(0), { timeout, interval: 50 });
  } finally {
    db.close();
  }
}
