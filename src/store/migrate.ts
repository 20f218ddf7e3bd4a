/**
 * Moving an embedded (SQLite) deployment into MongoDB: the reading and mapping half, which needs
 * no server. `readSqlite` opens the SQLite file read-only and yields, table by table, the MongoDB
 * documents the MongoStore would have written for the same data (through the same mapping as the
 * store). The writing half is `MongoStore.importBatch` (replace by key, so that a second run gives
 * the same result); `scripts/migrate.ts` ties them together with a progress bar.
 *
 * @example
 * const source = openSqliteSource(config.sqlitePath);
 * for (const batch of batches(readSqlite(source), 500)) await store.importBatch(batch);
 */
import Database from 'better-sqlite3';
import type { ActivityRow } from './activity-rows.js';
import { toCertificate, type CertificateRow } from './sqlite.js';
import { existsSync } from 'node:fs';
import type { Address, Channel } from '../messages.js';
import type { Lang, LearnerState } from '../engine/state.js';
import type { GroupState } from '../engine/group.js';
import {
  CHANNELS,
  newGroupDoc,
  newLearnerDoc,
  toActivityDoc,
  toAnswerDoc,
  toCertificateDoc,
  type CertificateDoc,
  type ActivityDoc,
  type GroupAnswerDoc,
  type GroupDoc,
  type GroupScoreDoc,
  type LearnerDoc,
  type ProcessedEventDoc,
} from './mongo-schemas.js';

/** One document to write, by collection. */
export type MigrationItem =
  | { kind: 'learner'; doc: LearnerDoc }
  | { kind: 'processed'; doc: ProcessedEventDoc }
  | { kind: 'group'; doc: GroupDoc }
  | { kind: 'answer'; doc: GroupAnswerDoc }
  | { kind: 'score'; doc: GroupScoreDoc }
  | { kind: 'certificate'; doc: CertificateDoc }
  | { kind: 'activity'; doc: ActivityDoc };

/** Thrown for a source that cannot be migrated as it is; names the table and row. */
export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

const TABLES = ['learners', 'processed_events', 'groups', 'group_answers', 'group_scores', 'activity', 'certificates'] as const;

/** Whether the file has a table (a file from before the dashboard has no activity table). */
function hasTable(db: Database.Database, table: string): boolean {
  return !!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table);
}

/** Opens an embedded store's file for reading only; fails clearly when it is not there. */
export function openSqliteSource(path: string): Database.Database {
  if (path !== ':memory:' && !existsSync(path)) {
    throw new MigrationError(`no SQLite store at ${path}: set DATA_DIR to the folder that holds digit4sd.sqlite`);
  }
  return new Database(path, { readonly: true, fileMustExist: true });
}

/**
 * The key under which the embedded store hashed its event ids (see `event-ids.ts`): the MongoDB
 * store must use it too (`MongoStoreOptions.eventIdKey`), or the migrated processed-event records
 * would not recognise a platform's retry. Undefined for a file that never hashed ids.
 */
export function readEventIdKey(db: Database.Database): string | undefined {
  const hasMeta = db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get()!.n > 0;
  return hasMeta ? db.prepare<[], { value: string }>("SELECT value FROM meta WHERE name = 'event_id_key'").get()?.value : undefined;
}

/** How many rows the migration will read, for the progress bar. */
export function countRows(db: Database.Database): number {
  let total = 0;
  for (const table of TABLES.filter((t) => hasTable(db, t))) total += db.prepare<[], { n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).get()!.n;
  return total;
}

function channelOf(value: string, where: string): Channel {
  if (!(CHANNELS as readonly string[]).includes(value)) throw new MigrationError(`${where}: unknown channel "${value}"`);
  return value as Channel;
}

function json<T>(text: string, where: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new MigrationError(`${where}: the stored JSON does not parse (${(err as Error).message})`);
  }
}

/** The documents for every row of the SQLite store, in table order, one row at a time. */
export function* readSqlite(db: Database.Database): Generator<MigrationItem> {
  for (const r of db
    .prepare<[], { channel: string; user_id: string; version: number; state: string; address: string; updated_at: number; nudge_at: number | null }>(
      'SELECT * FROM learners ORDER BY channel, user_id',
    )
    .iterate()) {
    const where = `learners row ${r.channel}/${r.user_id}`;
    const doc = newLearnerDoc({
      key: { channel: channelOf(r.channel, where), userId: r.user_id },
      expectedVersion: 0,
      state: json<LearnerState>(r.state, where),
      address: json<Address>(r.address, where),
      nudgeAt: r.nudge_at === null ? null : new Date(r.nudge_at),
      now: new Date(r.updated_at),
    });
    yield { kind: 'learner', doc: { ...doc, version: r.version } };
  }
  for (const r of db.prepare<[], { channel: string; event_id: string; at: number }>('SELECT * FROM processed_events ORDER BY at').iterate()) {
    yield { kind: 'processed', doc: { channel: channelOf(r.channel, `processed_events row ${r.event_id}`), eventId: r.event_id, at: new Date(r.at) } };
  }
  for (const r of db
    .prepare<[], { channel: string; conversation_id: string; version: number; state: string; address: string; closes_at: number | null; next_quiz_at?: number | null }>(
      'SELECT * FROM groups ORDER BY channel, conversation_id',
    )
    .iterate()) {
    const where = `groups row ${r.channel}/${r.conversation_id}`;
    const doc = newGroupDoc(
      {
        key: { channel: channelOf(r.channel, where), conversationId: r.conversation_id },
        expectedVersion: 0,
        state: json<GroupState>(r.state, where),
        address: json<Address>(r.address, where),
        closesAt: r.closes_at === null ? null : new Date(r.closes_at),
        // Absent in a file written before weekly quizzes existed.
        nextQuizAt: r.next_quiz_at == null ? null : new Date(r.next_quiz_at),
        now: new Date(0),
      },
      null,
    );
    yield { kind: 'group', doc: { ...doc, version: r.version } };
  }
  for (const r of db
    .prepare<[], { channel: string; conversation_id: string; quiz_id: string; question: number; user_id: string; display_name: string; option: number; at: number }>(
      'SELECT * FROM group_answers ORDER BY channel, conversation_id, quiz_id, question, at',
    )
    .iterate()) {
    const where = `group_answers row ${r.channel}/${r.conversation_id}/${r.quiz_id}/${r.question}`;
    yield {
      kind: 'answer',
      doc: toAnswerDoc({
        key: { channel: channelOf(r.channel, where), conversationId: r.conversation_id },
        quizId: r.quiz_id,
        question: r.question,
        userId: r.user_id,
        displayName: r.display_name,
        option: r.option,
        at: new Date(r.at),
        // SQLite keeps no event id per answer; a stable made-up one keeps the migration idempotent.
        eventId: `migrated:${r.conversation_id}:${r.quiz_id}:${r.question}:${r.user_id}`,
      }),
    };
  }
  for (const r of db
    .prepare<[], { channel: string; conversation_id: string; user_id: string; display_name: string; points: number; answered: number; correct: number }>(
      'SELECT * FROM group_scores ORDER BY channel, conversation_id, user_id',
    )
    .iterate()) {
    yield {
      kind: 'score',
      doc: {
        channel: channelOf(r.channel, `group_scores row ${r.conversation_id}`),
        conversationId: r.conversation_id,
        userId: r.user_id,
        displayName: r.display_name,
        points: r.points,
        answered: r.answered,
        correct: r.correct,
        applied: [],
      },
    };
  }
  yield* readCertificates(db);
  if (!hasTable(db, 'activity')) return;
  for (const r of db
    .prepare<[], Record<string, string | number | null>>('SELECT * FROM activity ORDER BY channel, user_id, at, version, seq')
    .iterate()) {
    const where = `activity row ${String(r.channel)}/${String(r.user_id)}/${String(r.version)}/${String(r.seq)}`;
    const channel = channelOf(String(r.channel), where);
    const bool = (v: unknown) => (v === null || v === undefined ? null : v === 1);
    const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
    // The learner, the version it was committed with and its place in that commit: a stable id, so a second run replaces.
    const id = `${channel}:${String(r.version)}:${String(r.seq)}:${String(r.user_id)}`;
    yield {
      kind: 'activity',
      doc: toActivityDoc(id, {
        channel,
        userId: String(r.user_id),
        at: new Date(Number(r.at)),
        type: String(r.type) as ActivityDoc['type'],
        lang: String(r.lang),
        country: str(r.country),
        org: str(r.org),
        lessonId: str(r.lesson_id),
        itemId: str(r.item_id),
        mode: str(r.mode) as ActivityRow['mode'],
        options: str(r.options),
        correct: bool(r.correct),
        first: bool(r.first),
        durationMs: num(r.duration_ms),
        predicted: num(r.predicted),
        daysSince: num(r.days_since),
        score: num(r.score),
        total: num(r.total),
        event: str(r.event) as ActivityRow['event'],
        localHour: num(r.local_hour),
      }),
    };
  }
}

/** The certificates of the embedded store (a file from before certificates has none). */
function* readCertificates(db: Database.Database): Generator<MigrationItem> {
  if (!hasTable(db, 'certificates')) return;
  for (const r of db.prepare<[], CertificateRow>('SELECT * FROM certificates ORDER BY issued_at, id').iterate()) {
    // The channel is checked: an older file may hold anything.
    if (r.channel && r.user_id) channelOf(r.channel, `certificates row ${r.id}`);
    yield { kind: 'certificate', doc: toCertificateDoc(toCertificate(r)) };
  }
}

/** Groups a stream into arrays of at most `size`. */
export function* batches<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let batch: T[] = [];
  for (const item of items) {
    batch.push(item);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** Where migrated documents go: `MongoStore.importBatch`. */
export interface MigrationTarget {
  importBatch(items: MigrationItem[]): Promise<{ written: number; keptNewer: number }>;
}

export interface MigrationSummary {
  read: number;
  written: number;
  /** Learners and groups left alone because the target already had a newer version. */
  keptNewer: number;
}

/**
 * Copies every row of an embedded store into the target, batch by batch, calling `onProgress`
 * after each batch with the rows done so far and the total. Safe to run again: the target replaces
 * by key with the source's values.
 */
export async function migrateSqlite(
  source: Database.Database,
  target: MigrationTarget,
  opts: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<MigrationSummary> {
  const total = countRows(source);
  const summary: MigrationSummary = { read: 0, written: 0, keptNewer: 0 };
  opts.onProgress?.(0, total);
  for (const batch of batches(readSqlite(source), opts.batchSize ?? 500)) {
    const res = await target.importBatch(batch);
    summary.read += batch.length;
    summary.written += res.written;
    summary.keptNewer += res.keptNewer;
    opts.onProgress?.(summary.read, total);
  }
  return summary;
}

/** One line of a text progress bar: `[#####-----]  50%  5/10`. */
export function renderProgress(done: number, total: number, width = 30): string {
  const ratio = total === 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}%  ${done}/${total}`;
}
