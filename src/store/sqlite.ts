/**
 * The embedded store: SQLite through better-sqlite3, in one file under `DATA_DIR`. Needs no server,
 * survives a killed process (WAL: a write that returned is in the write-ahead log, which the
 * operating system keeps when the process dies; with `synchronous: 'full'` every commit is also
 * flushed to the disk, so that it survives a power cut too, at the cost of an fsync per write), and
 * can be shared by several processes on one machine (busy timeout, conditional writes).
 *
 * Erasure: `secure_delete` is on, so deleted rows are overwritten with zeros rather than left in
 * free space, and `forgetLearner` ends with a TRUNCATE checkpoint, so that no older copy of a page
 * stays in the write-ahead log. Event ids are kept only as a keyed hash (see `event-ids.ts`).
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Address, Channel, LearnerKey } from '../messages.js';
import { CHANNELS } from '../messages.js';
import type { Lang, LearnerState } from '../engine/state.js';
import { forgetGroupMember, groupMemberData, FORMER_PARTICIPANT_NAME, type GroupState } from '../engine/group.js';
import { eventIdHasher, newEventIdKey } from './event-ids.js';
import { formerParticipantId } from './store.js';
import { SqliteWorkshops } from './sqlite-workshops.js';
import type { WorkshopExport, WorkshopStore } from './workshops.js';
import type { ActivityRecord } from '../engine/activity.js';
import { fromActivityRow, toActivityRow, type ActivityRow } from './activity-rows.js';
import type {
  DashboardFilter,
  DurationBucketRow,
  ItemOptionRow,
  ItemStatRow,
  LearnerCountRow,
  LessonFunnelRow,
  NudgeRow,
  PeriodRow,
  RecallRow,
  StopPointRow,
  TeamQuizRow,
} from './dashboard.js';
import type {
  AnswerInsert,
  CertificateRecord,
  XapiRow,
  LinkCommit,
  UnlinkCopy,
  CommitResult,
  ConversationKey,
  DueLearner,
  AnswerTally,
  GroupAnswer,
  GroupCommit,
  GroupRecord,
  LearnerCommit,
  LearnerExport,
  LearnerRecord,
  InboxInsert,
  InboxRow,
  OutboxInsert,
  OutboxRow,
  ScoreRow,
  Store,
} from './store.js';
import { exportCertificate } from './store.js';

/** The schema, applied idempotently at open. Indexes match the queries below. */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS learners (
  channel TEXT NOT NULL,
  user_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  state TEXT NOT NULL,
  address TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  nudge_at INTEGER,
  PRIMARY KEY (channel, user_id)
);
CREATE INDEX IF NOT EXISTS learners_nudge_at ON learners (nudge_at) WHERE nudge_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS processed_events (
  channel TEXT NOT NULL,
  event_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (channel, event_id)
);
CREATE INDEX IF NOT EXISTS processed_events_at ON processed_events (at);
CREATE TABLE IF NOT EXISTS groups (
  channel TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  state TEXT NOT NULL,
  address TEXT NOT NULL,
  closes_at INTEGER,
  next_quiz_at INTEGER,
  PRIMARY KEY (channel, conversation_id)
);
CREATE INDEX IF NOT EXISTS groups_closes_at ON groups (closes_at) WHERE closes_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS group_answers (
  channel TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  quiz_id TEXT NOT NULL,
  question INTEGER NOT NULL,
  user_id TEXT NOT NULL,
  display_name TEXT NOT NULL,
  option INTEGER NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (channel, conversation_id, quiz_id, question, user_id)
);
CREATE INDEX IF NOT EXISTS group_answers_user ON group_answers (channel, user_id);
CREATE TABLE IF NOT EXISTS group_scores (
  channel TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  user_id TEXT NOT NULL,
  display_name TEXT NOT NULL,
  points INTEGER NOT NULL,
  answered INTEGER NOT NULL,
  correct INTEGER NOT NULL,
  PRIMARY KEY (channel, conversation_id, user_id)
);
CREATE INDEX IF NOT EXISTS group_scores_user ON group_scores (channel, user_id);
CREATE TABLE IF NOT EXISTS inbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  channel TEXT NOT NULL,
  event_id TEXT NOT NULL,
  lane TEXT NOT NULL,
  payload TEXT NOT NULL,
  received_at INTEGER NOT NULL,
  available_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  applied_at INTEGER,
  UNIQUE (channel, event_id)
);
CREATE INDEX IF NOT EXISTS inbox_pending ON inbox (seq) WHERE applied_at IS NULL;
CREATE TABLE IF NOT EXISTS inbox_lanes (
  lane TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  until INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  channel TEXT NOT NULL,
  conversation_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  available_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  done_at INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (id) WHERE done_at IS NULL;
CREATE INDEX IF NOT EXISTS group_answers_at ON group_answers (at);
CREATE TABLE IF NOT EXISTS activity (
  channel TEXT NOT NULL,
  user_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  type TEXT NOT NULL,
  lang TEXT NOT NULL,
  country TEXT,
  org TEXT,
  lesson_id TEXT,
  item_id TEXT,
  mode TEXT,
  options TEXT,
  correct INTEGER,
  first INTEGER,
  duration_ms INTEGER,
  predicted REAL,
  days_since REAL,
  score INTEGER,
  total INTEGER,
  event TEXT,
  local_hour INTEGER,
  -- The learner's version this record was committed with, and its place in that commit.
  version INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  -- Clustered by type and time: every dashboard read is a range of one type over a period.
  PRIMARY KEY (type, at, channel, user_id, version, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS activity_user ON activity (channel, user_id);
-- A summary of the activity table, one row per learner and UTC day, written with it in the same
-- transaction: active learners by day and week read this instead of every record.
CREATE TABLE IF NOT EXISTS learner_days (
  day INTEGER NOT NULL,
  channel TEXT NOT NULL,
  user_id TEXT NOT NULL,
  lang TEXT NOT NULL,
  country TEXT,
  org TEXT,
  -- 1 once the learner did something that day (a nudge sent or found unreachable is not the learner's doing).
  active INTEGER NOT NULL,
  completed INTEGER NOT NULL,
  answers INTEGER NOT NULL,
  PRIMARY KEY (day, channel, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS learner_days_user ON learner_days (channel, user_id);
CREATE TABLE IF NOT EXISTS meta (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
  channel TEXT NOT NULL,
  user_id TEXT NOT NULL,
  person_channel TEXT NOT NULL,
  person_user_id TEXT NOT NULL,
  address TEXT NOT NULL,
  linked_at INTEGER NOT NULL,
  PRIMARY KEY (channel, user_id)
);
CREATE INDEX IF NOT EXISTS accounts_person ON accounts (person_channel, person_user_id);
CREATE TABLE IF NOT EXISTS link_codes (
  code TEXT PRIMARY KEY,
  person_channel TEXT NOT NULL,
  person_user_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS xapi_outbox (
  id TEXT PRIMARY KEY,
  channel TEXT NOT NULL,
  user_id TEXT NOT NULL,
  statement TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  lease_until INTEGER NOT NULL DEFAULT 0,
  sent_at INTEGER
);
CREATE INDEX IF NOT EXISTS xapi_outbox_due ON xapi_outbox (lease_until, created_at) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS xapi_outbox_learner ON xapi_outbox (channel, user_id);
CREATE TABLE IF NOT EXISTS certificates (
  id TEXT PRIMARY KEY,
  channel TEXT,
  user_id TEXT,
  achievement TEXT NOT NULL,
  title TEXT NOT NULL,
  lang TEXT NOT NULL,
  name TEXT,
  jwt TEXT,
  hash TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS certificates_learner ON certificates (channel, user_id) WHERE user_id IS NOT NULL;
`;

/**
 * Learner fields the dashboard filters and counts by, copied from the state by every write of it
 * (so that a dashboard read never parses 100,000 state documents), with one covering index.
 */
const DASH_COLUMNS = ['d_lang', 'd_country', 'd_org', 'd_created', 'd_last_seen', 'd_stop_kind', 'd_stop_lesson', 'd_stop_card', 'd_stop_item'] as const;

/** The values of {@link DASH_COLUMNS} for a state: its dimensions, and where the learner is (for where they stop). */
function dashValues(s: LearnerState): (string | number | null)[] {
  const p = s.position;
  return [
    s.lang,
    s.country ?? null,
    s.org ?? null,
    s.createdAt,
    s.lastSeenAt,
    p.kind,
    p.kind === 'idle' ? null : (p.lessonId ?? null),
    p.kind === 'card' ? p.index : null,
    p.kind === 'quiz' ? (p.itemIds[p.index] ?? null) : null,
  ];
}

/**
 * Columns added after the first release: a file created before gets them at open. Their indexes
 * are created afterwards, since an index on a missing column fails.
 */
const ADDED_COLUMNS = [
  { table: 'groups', column: 'next_quiz_at', type: 'INTEGER' },
  // 1 for a proactive row (a nudge): its own lane in outboxDue.
  { table: 'outbox', column: 'proactive', type: 'INTEGER NOT NULL DEFAULT 0' },
] as const;
const LATER_INDEXES = `
CREATE INDEX IF NOT EXISTS groups_next_quiz_at ON groups (next_quiz_at) WHERE next_quiz_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS outbox_lane ON outbox (channel, proactive, id) WHERE done_at IS NULL;
CREATE INDEX IF NOT EXISTS learners_dashboard ON learners (d_last_seen, d_created, channel, d_lang, d_country, d_org, d_stop_kind, d_stop_lesson, d_stop_card, d_stop_item);
`;

const DAY_MS = 86_400_000;
const dayString = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);

/** The WHERE clause of a dashboard filter on the activity table (or another with the same column names). */
function activityWhere(f: DashboardFilter, profile = true): { sql: string; params: (string | number)[] } {
  const parts = ['at >= ?', 'at < ?'];
  const params: (string | number)[] = [f.from.getTime(), f.to.getTime()];
  const add = (column: string, value: string | undefined) => {
    if (value === undefined) return;
    parts.push(`${column} = ?`);
    params.push(value);
  };
  // "+" keeps SQLite from reading a whole channel through the per-learner index instead of the period's range.
  add('+channel', f.channel);
  if (profile) {
    add('lang', f.lang);
    add('country', f.country);
    add('org', f.org);
  }
  return { sql: parts.join(' AND '), params };
}

/** The WHERE clause of a dashboard filter on learners: seen in the period, with these dimensions. */
function learnerWhere(f: DashboardFilter): { sql: string; params: (string | number)[] } {
  const parts = ['d_last_seen >= ?', 'd_created < ?'];
  const params: (string | number)[] = [f.from.toISOString(), f.to.toISOString()];
  const add = (column: string, value: string | undefined) => {
    if (value === undefined) return;
    parts.push(`${column} = ?`);
    params.push(value);
  };
  add('channel', f.channel);
  add('d_lang', f.lang);
  add('d_country', f.country);
  add('d_org', f.org);
  return { sql: parts.join(' AND '), params };
}

interface ActivityDbRow {
  at: number;
  type: ActivityRow['type'];
  lesson_id: string | null;
  item_id: string | null;
  mode: ActivityRow['mode'];
  options: string | null;
  correct: number | null;
  first: number | null;
  duration_ms: number | null;
  predicted: number | null;
  days_since: number | null;
  score: number | null;
  total: number | null;
  event: ActivityRow['event'];
  local_hour: number | null;
}

const bit = (b: boolean | null) => (b === null ? null : b ? 1 : 0);

interface LearnerRow {
  channel: Channel;
  user_id: string;
  version: number;
  state: string;
  address: string;
  updated_at: number;
  nudge_at: number | null;
}

/** A row of the `certificates` table. */
export interface CertificateRow {
  id: string;
  channel: Channel | null;
  user_id: string | null;
  achievement: string;
  title: string;
  lang: Lang;
  name: string | null;
  jwt: string | null;
  hash: string;
  issued_at: number;
  revoked_at: number | null;
}

/** A `certificates` row as the store contract's record (the migration reads rows this way too). */
export function toCertificate(r: CertificateRow): CertificateRecord {
  return {
    id: r.id,
    learner: r.channel && r.user_id ? { channel: r.channel, userId: r.user_id } : null,
    achievement: r.achievement,
    title: r.title,
    lang: r.lang,
    name: r.name,
    jwt: r.jwt,
    hash: r.hash,
    issuedAt: new Date(r.issued_at),
    revokedAt: r.revoked_at === null ? null : new Date(r.revoked_at),
  };
}

function toLearner(r: LearnerRow): LearnerRecord {
  return {
    key: { channel: r.channel, userId: r.user_id },
    version: r.version,
    state: JSON.parse(r.state) as LearnerState,
    address: JSON.parse(r.address) as Address,
    updatedAt: new Date(r.updated_at),
    nudgeAt: r.nudge_at === null ? null : new Date(r.nudge_at),
  };
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly stmt;
  /** Keyed hash of an event id: the only form in which event ids are stored. */
  private readonly eventKey: (eventId: string) => string;
  private readonly workshopRows: SqliteWorkshops;
  get workshops(): WorkshopStore {
    return this.workshopRows;
  }

  /**
   * Opens (and creates) the database file; `:memory:` for a throwaway store. `synchronous`:
   * 'normal' (the default, as `SQLITE_SYNCHRONOUS`) keeps every commit through a killed process;
   * 'full' also through a power cut (an fsync per commit, on the event loop).
   */
  constructor(
    readonly path: string,
    options: { synchronous?: 'normal' | 'full' } = {},
  ) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('secure_delete = ON');
    const { key, upgraded } = this.db.transaction(() => {
      this.db.exec(SCHEMA);
      for (const { table, column, type } of ADDED_COLUMNS) {
        const columns = this.db.prepare<[], { name: string }>(`PRAGMA table_info(${table})`).all();
        if (!columns.some((c) => c.name === column)) this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
      }
      const learnerColumns = this.db.prepare<[], { name: string }>('PRAGMA table_info(learners)').all();
      const missing = DASH_COLUMNS.filter((column) => !learnerColumns.some((c) => c.name === column));
      for (const column of missing) this.db.exec(`ALTER TABLE learners ADD COLUMN ${column} ${column === 'd_stop_card' ? 'INTEGER' : 'TEXT'}`);
      if (missing.length) {
        // A file from before the dashboard: fill the columns from each state once.
        const fill = this.db.prepare(`UPDATE learners SET ${DASH_COLUMNS.map((c) => `${c} = ?`).join(', ')} WHERE channel = ? AND user_id = ?`);
        for (const r of this.db.prepare<[], { channel: string; user_id: string; state: string }>('SELECT channel, user_id, state FROM learners').all())
          fill.run(...dashValues(JSON.parse(r.state) as LearnerState), r.channel, r.user_id);
      }
      this.db.exec(LATER_INDEXES);
      return this.eventIdKey();
    }).immediate();
    this.eventKey = eventIdHasher(key);
    this.workshopRows = new SqliteWorkshops(this.db, this.eventKey);
    // A file written before erasure was this thorough may hold deleted rows in its free space: rewrite it once.
    if (upgraded) this.db.exec('VACUUM');
    const db = this.db;
    this.stmt = {
      getLearner: db.prepare<[string, string], LearnerRow>('SELECT * FROM learners WHERE channel = ? AND user_id = ?'),
      insertLearner: db.prepare(
        `INSERT INTO learners (channel, user_id, version, state, address, updated_at, nudge_at, ${DASH_COLUMNS.join(', ')})
         VALUES (?, ?, 1, ?, ?, ?, ?, ${DASH_COLUMNS.map(() => '?').join(', ')}) ON CONFLICT DO NOTHING`,
      ),
      updateLearner: db.prepare(
        `UPDATE learners SET version = version + 1, state = ?, address = ?, updated_at = ?, nudge_at = ?, ${DASH_COLUMNS.map((c) => `${c} = ?`).join(', ')}
         WHERE channel = ? AND user_id = ? AND version = ?`,
      ),
      isProcessed: db.prepare<[string, string], { one: number }>('SELECT 1 AS one FROM processed_events WHERE channel = ? AND event_id = ?'),
      markProcessed: db.prepare('INSERT INTO processed_events (channel, event_id, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      dueKeys: db.prepare<[number, number], { channel: Channel; user_id: string; nudge_at: number }>(
        'SELECT channel, user_id, nudge_at FROM learners WHERE nudge_at IS NOT NULL AND nudge_at <= ? ORDER BY nudge_at LIMIT ?',
      ),
      setNudgeAt: db.prepare('UPDATE learners SET nudge_at = ? WHERE channel = ? AND user_id = ?'),
      getGroup: db.prepare<[string, string], { version: number; state: string; address: string }>(
        'SELECT version, state, address FROM groups WHERE channel = ? AND conversation_id = ?',
      ),
      insertGroup: db.prepare(
        'INSERT INTO groups (channel, conversation_id, version, state, address, closes_at, next_quiz_at) VALUES (?, ?, 1, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      updateGroup: db.prepare(
        'UPDATE groups SET version = version + 1, state = ?, address = ?, closes_at = ?, next_quiz_at = ? WHERE channel = ? AND conversation_id = ? AND version = ?',
      ),
      groupsDue: db.prepare<[number, number], { channel: Channel; conversation_id: string }>(
        'SELECT channel, conversation_id FROM groups WHERE closes_at IS NOT NULL AND closes_at <= ? ORDER BY closes_at LIMIT ?',
      ),
      groupQuizzesDue: db.prepare<[number, number], { channel: Channel; conversation_id: string }>(
        'SELECT channel, conversation_id FROM groups WHERE next_quiz_at IS NOT NULL AND next_quiz_at <= ? ORDER BY next_quiz_at LIMIT ?',
      ),
      insertAnswer: db.prepare(
        'INSERT INTO group_answers (channel, conversation_id, quiz_id, question, user_id, display_name, option, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      listAnswers: db.prepare<[string, string, string, number], { user_id: string; display_name: string; option: number; at: number }>(
        'SELECT user_id, display_name, option, at FROM group_answers WHERE channel = ? AND conversation_id = ? AND quiz_id = ? AND question = ? ORDER BY at, user_id',
      ),
      answerTally: db.prepare<[string, string, string, string, number], { count: number; mine: number }>(
        'SELECT count(*) AS count, coalesce(max(user_id = ?), 0) AS mine FROM group_answers WHERE channel = ? AND conversation_id = ? AND quiz_id = ? AND question = ?',
      ),
      addScore: db.prepare(
        `INSERT INTO group_scores (channel, conversation_id, user_id, display_name, points, answered, correct) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (channel, conversation_id, user_id) DO UPDATE SET display_name = excluded.display_name,
           points = points + excluded.points, answered = answered + excluded.answered, correct = correct + excluded.correct`,
      ),
      leaderboard: db.prepare<[string, string, number], { user_id: string; display_name: string; points: number; answered: number; correct: number }>(
        'SELECT user_id, display_name, points, answered, correct FROM group_scores WHERE channel = ? AND conversation_id = ? ORDER BY points DESC, correct DESC, display_name LIMIT ?',
      ),
      pruneProcessed: db.prepare('DELETE FROM processed_events WHERE at < ?'),
      inboxAdd: db.prepare(
        'INSERT INTO inbox (channel, event_id, lane, payload, received_at, available_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      inboxPending: db.prepare<[number, number], { seq: number; channel: Channel; event_id: string; lane: string; payload: string; received_at: number; available_at: number; attempts: number }>(
        'SELECT seq, channel, event_id, lane, payload, received_at, available_at, attempts FROM inbox WHERE applied_at IS NULL AND received_at <= ? ORDER BY seq LIMIT ?',
      ),
      // Applied events and sent replies are deleted at once: they hold message texts and ids, and a
      // platform's redelivery is recognised by the (keyed) processed-event id.
      inboxApplied: db.prepare<[number, number]>('DELETE FROM inbox WHERE seq = ? OR (applied_at IS NOT NULL AND applied_at < ?)'),
      inboxRetry: db.prepare('UPDATE inbox SET available_at = ?, attempts = attempts + 1 WHERE seq = ?'),
      // One statement: taken when free, run out, or already ours (renewed); untouched when another holds it.
      inboxClaimLane: db.prepare<[{ lane: string; owner: string; now: number; until: number }]>(
        'INSERT INTO inbox_lanes (lane, owner, until) VALUES (@lane, @owner, @until) ON CONFLICT (lane) DO UPDATE SET owner = excluded.owner, until = excluded.until WHERE inbox_lanes.owner = excluded.owner OR inbox_lanes.until <= @now',
      ),
      inboxReleaseLane: db.prepare<[string, string]>('DELETE FROM inbox_lanes WHERE lane = ? AND owner = ?'),
      outboxAdd: db.prepare('INSERT INTO outbox (channel, conversation_id, payload, created_at, available_at, proactive) VALUES (?, ?, ?, ?, ?, ?)'),
      outboxDue: db.prepare<[string, number, number, number], { id: number; channel: Channel; conversation_id: string; payload: string; created_at: number; available_at: number; attempts: number; proactive: number }>(
        'SELECT id, channel, conversation_id, payload, created_at, available_at, attempts, proactive FROM outbox WHERE done_at IS NULL AND channel = ? AND proactive = ? AND created_at <= ? ORDER BY id LIMIT ?',
      ),
      outboxClaim: db.prepare('UPDATE outbox SET available_at = ? WHERE id = ? AND done_at IS NULL AND available_at = ?'),
      outboxDone: db.prepare<[number]>('DELETE FROM outbox WHERE id = ?'),
      outboxRetry: db.prepare('UPDATE outbox SET available_at = ?, attempts = attempts + 1 WHERE id = ?'),
      pruneInbox: db.prepare('DELETE FROM inbox WHERE applied_at IS NOT NULL AND applied_at < ?'),
      pruneOutbox: db.prepare('DELETE FROM outbox WHERE done_at IS NOT NULL AND done_at < ?'),
      insertCertificate: db.prepare(
        'INSERT INTO certificates (id, channel, user_id, achievement, title, lang, name, jwt, hash, issued_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      getCertificate: db.prepare<[string], CertificateRow>('SELECT * FROM certificates WHERE id = ?'),
      learnerCertificates: db.prepare<[string, string], CertificateRow>('SELECT * FROM certificates WHERE channel = ? AND user_id = ? ORDER BY issued_at, id'),
      revokeCertificate: db.prepare('UPDATE certificates SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      insertXapi: db.prepare('INSERT INTO xapi_outbox (id, channel, user_id, statement, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING'),
      dueXapi: db.prepare<[number, number], { id: string; channel: Channel; user_id: string; statement: string; created_at: number }>(
        'SELECT id, channel, user_id, statement, created_at FROM xapi_outbox WHERE sent_at IS NULL AND lease_until <= ? ORDER BY created_at, id LIMIT ?',
      ),
      leaseXapi: db.prepare('UPDATE xapi_outbox SET lease_until = ? WHERE id = ?'),
      sentXapi: db.prepare('UPDATE xapi_outbox SET sent_at = ? WHERE id = ? AND sent_at IS NULL'),
      pendingXapi: db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM xapi_outbox WHERE sent_at IS NULL'),
      pruneXapi: db.prepare('DELETE FROM xapi_outbox WHERE sent_at IS NOT NULL AND sent_at < ?'),
      // What stays of a certificate after its holder's erasure: see CertificateRecord.
      eraseCertificates: db.prepare('UPDATE certificates SET channel = NULL, user_id = NULL, name = NULL, jwt = NULL WHERE channel = ? AND user_id = ?'),
      addLearnerDay: db.prepare(
        `INSERT INTO learner_days (day, channel, user_id, lang, country, org, active, completed, answers) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (day, channel, user_id) DO UPDATE SET lang = excluded.lang, country = excluded.country, org = excluded.org,
           active = max(active, excluded.active), completed = completed + excluded.completed, answers = answers + excluded.answers`,
      ),
      insertActivity: db.prepare(
        `INSERT INTO activity (channel, user_id, at, type, lang, country, org, lesson_id, item_id, mode, options, correct, first, duration_ms, predicted, days_since, score, total, event, local_hour, version, seq)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
    };
  }

  /**
   * The database's event-id key, made on first open. A file from before event ids were hashed gets
   * its stored ids hashed in the same transaction, and `upgraded` asks for a VACUUM.
   */
  private eventIdKey(): { key: string; upgraded: boolean } {
    const made = this.db.prepare("INSERT INTO meta (name, value) VALUES ('event_id_key', ?) ON CONFLICT DO NOTHING").run(newEventIdKey()).changes === 1;
    const key = this.db.prepare<[], { value: string }>("SELECT value FROM meta WHERE name = 'event_id_key'").get()!.value;
    if (!made) return { key, upgraded: false };
    const hash = eventIdHasher(key);
    this.db.function('digit4sd_event_key', { deterministic: true }, (id: unknown) => hash(String(id)));
    const rehashed = this.db.prepare('UPDATE processed_events SET event_id = digit4sd_event_key(event_id)').run().changes;
    const rows = (this.db.prepare<[], { n: number }>('SELECT (SELECT count(*) FROM learners) + (SELECT count(*) FROM group_answers) AS n').get()?.n ?? 0) + rehashed;
    return { key, upgraded: rows > 0 && this.path !== ':memory:' };
  }

  async getLearner(key: LearnerKey): Promise<LearnerRecord | null> {
    const row = this.stmt.getLearner.get(key.channel, key.userId);
    return row ? toLearner(row) : null;
  }

  async commitLearner(c: LearnerCommit): Promise<CommitResult> {
    return this.conditional(() => {
      if (c.eventId && this.stmt.markProcessed.run(c.key.channel, this.eventKey(c.eventId), c.now.getTime()).changes === 0) return 'duplicate';
      const args = [JSON.stringify(c.state), JSON.stringify(c.address), c.now.getTime(), c.nudgeAt?.getTime() ?? null, ...dashValues(c.state)] as const;
      const changed =
        c.expectedVersion === 0
          ? this.stmt.insertLearner.run(c.key.channel, c.key.userId, ...args).changes
          : this.stmt.updateLearner.run(...args, c.key.channel, c.key.userId, c.expectedVersion).changes;
      if (changed === 0) throw new Conflict();
      this.addOutbox(c.outbox, c.now);
      for (const x of c.xapi ?? []) this.stmt.insertXapi.run(x.id, x.learner.channel, x.learner.userId, x.statement, x.createdAt.getTime());
      for (const r of c.certificates ?? [])
        this.stmt.insertCertificate.run(r.id, r.learner?.channel ?? null, r.learner?.userId ?? null, r.achievement, r.title, r.lang, r.name, r.jwt, r.hash, r.issuedAt.getTime(), r.revokedAt?.getTime() ?? null);
      (c.activity ?? []).forEach((record, seq) => this.insertActivity(toActivityRow(c.key.channel, c.key.userId, c.state, record), c.expectedVersion + 1, seq));
      return 'committed';
    });
  }

  async getCertificate(id: string): Promise<CertificateRecord | null> {
    const row = this.stmt.getCertificate.get(id);
    return row ? toCertificate(row) : null;
  }

  async revokeCertificate(id: string, at: Date): Promise<boolean> {
    return this.stmt.revokeCertificate.run(at.getTime(), id).changes === 1;
  }

  async resolveAccount(key: LearnerKey): Promise<LearnerKey> {
    const row = this.db.prepare<[string, string], { person_channel: Channel; person_user_id: string }>('SELECT person_channel, person_user_id FROM accounts WHERE channel = ? AND user_id = ?').get(key.channel, key.userId);
    return row ? { channel: row.person_channel, userId: row.person_user_id } : key;
  }

  async linkedAccounts(person: LearnerKey): Promise<{ key: LearnerKey; address: Address }[]> {
    return this.db
      .prepare<[string, string], { channel: Channel; user_id: string; address: string }>(
        'SELECT channel, user_id, address FROM accounts WHERE person_channel = ? AND person_user_id = ? ORDER BY linked_at, channel, user_id',
      )
      .all(person.channel, person.userId)
      .map((r) => ({ key: { channel: r.channel, userId: r.user_id }, address: JSON.parse(r.address) as Address }));
  }

  async saveLinkCode(code: string, person: LearnerKey, expiresAt: Date): Promise<void> {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM link_codes WHERE person_channel = ? AND person_user_id = ?').run(person.channel, person.userId);
      this.db.prepare('INSERT OR REPLACE INTO link_codes (code, person_channel, person_user_id, expires_at) VALUES (?, ?, ?, ?)').run(code, person.channel, person.userId, expiresAt.getTime());
    }).immediate();
  }

  async takeLinkCode(code: string, now: Date): Promise<LearnerKey | null> {
    return this.db.transaction(() => {
      const row = this.db.prepare<[string], { person_channel: Channel; person_user_id: string; expires_at: number }>('SELECT * FROM link_codes WHERE code = ?').get(code);
      this.db.prepare('DELETE FROM link_codes WHERE code = ? OR expires_at <= ?').run(code, now.getTime());
      return row && row.expires_at > now.getTime() ? { channel: row.person_channel, userId: row.person_user_id } : null;
    }).immediate();
  }

  async linkAccounts(c: LinkCommit): Promise<'committed' | 'conflict'> {
    const outcome = this.conditional(() => {
      const args = [JSON.stringify(c.state), JSON.stringify(c.address), c.now.getTime(), c.nudgeAt?.getTime() ?? null, ...dashValues(c.state)] as const;
      if (this.stmt.updateLearner.run(...args, c.primary.channel, c.primary.userId, c.expectedVersion).changes === 0) throw new Conflict();
      const s = c.secondary;
      const deleted = this.db.prepare('DELETE FROM learners WHERE channel = ? AND user_id = ? AND version = ?').run(s.channel, s.userId, c.secondaryVersion).changes;
      if (c.secondaryVersion > 0 && deleted === 0) throw new Conflict();
      // The joining account's own links move to the person, then the account itself joins.
      this.db.prepare('UPDATE accounts SET person_channel = ?, person_user_id = ? WHERE person_channel = ? AND person_user_id = ?').run(c.primary.channel, c.primary.userId, s.channel, s.userId);
      this.db
        .prepare('INSERT OR REPLACE INTO accounts (channel, user_id, person_channel, person_user_id, address, linked_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(s.channel, s.userId, c.primary.channel, c.primary.userId, JSON.stringify(c.secondaryAddress), c.now.getTime());
      return 'committed';
    });
    return outcome === 'committed' ? 'committed' : 'conflict';
  }

  async unlinkAccount(account: LearnerKey, copy: UnlinkCopy): Promise<boolean> {
    return this.db.transaction(() => {
      if (this.db.prepare('DELETE FROM accounts WHERE channel = ? AND user_id = ?').run(account.channel, account.userId).changes === 0) return false;
      this.stmt.insertLearner.run(account.channel, account.userId, JSON.stringify(copy.state), JSON.stringify(copy.address), copy.now.getTime(), copy.nudgeAt?.getTime() ?? null, ...dashValues(copy.state));
      return true;
    }).immediate();
  }

  async claimXapi(now: Date, limit: number, leaseUntil: Date): Promise<XapiRow[]> {
    return this.db.transaction(() => {
      const rows = this.stmt.dueXapi.all(now.getTime(), limit);
      for (const r of rows) this.stmt.leaseXapi.run(leaseUntil.getTime(), r.id);
      return rows.map((r) => ({ id: r.id, learner: { channel: r.channel, userId: r.user_id }, statement: r.statement, createdAt: new Date(r.created_at) }));
    }).immediate();
  }

  async markXapiSent(ids: string[], at: Date): Promise<void> {
    this.db.transaction(() => {
      for (const id of ids) this.stmt.sentXapi.run(at.getTime(), id);
    }).immediate();
  }

  async xapiPending(): Promise<number> {
    return this.stmt.pendingXapi.get()!.n;
  }

  async pruneXapi(before: Date): Promise<number> {
    return this.stmt.pruneXapi.run(before.getTime()).changes;
  }

  private insertActivity(r: ActivityRow, version: number, seq: number): void {
    const active = r.type !== 'nudge' || (r.event !== 'sent' && r.event !== 'unreachable') ? 1 : 0;
    this.stmt.addLearnerDay.run(
      Math.floor(r.at.getTime() / DAY_MS), r.channel, r.userId, r.lang, r.country, r.org, active,
      r.type === 'lesson_completed' ? 1 : 0, r.type === 'item_answered' ? 1 : 0,
    );
    this.stmt.insertActivity.run(
      r.channel, r.userId, r.at.getTime(), r.type, r.lang, r.country, r.org, r.lessonId, r.itemId, r.mode, r.options,
      bit(r.correct), bit(r.first), r.durationMs, r.predicted, r.daysSince, r.score, r.total, r.event, r.localHour, version, seq,
    );
  }

  /** Runs a conditional write in one immediate transaction; a version mismatch rolls it back. */
  private conditional(write: () => CommitResult): CommitResult {
    try {
      return this.db.transaction(write).immediate();
    } catch (err) {
      if (err instanceof Conflict) return 'conflict';
      throw err;
    }
  }

  async isProcessed(channel: Channel, eventId: string): Promise<boolean> {
    return !!this.stmt.isProcessed.get(channel, this.eventKey(eventId));
  }

  async markProcessed(channel: Channel, eventId: string, now: Date, outbox?: OutboxInsert[]): Promise<boolean> {
    return this.db.transaction(() => {
      if (this.stmt.markProcessed.run(channel, this.eventKey(eventId), now.getTime()).changes === 0) return false;
      this.addOutbox(outbox, now);
      return true;
    }).immediate();
  }

  /** Writes owed messages; called inside the transaction of the change that produced them. */
  private addOutbox(rows: OutboxInsert[] | undefined, now: Date): void {
    for (const r of rows ?? []) this.stmt.outboxAdd.run(r.channel, r.conversationId, r.payload, now.getTime(), now.getTime(), r.proactive ? 1 : 0);
  }

  async inboxAdd(item: InboxInsert): Promise<boolean> {
    const at = item.receivedAt.getTime();
    return this.stmt.inboxAdd.run(item.channel, this.eventKey(item.eventId), item.lane, item.payload, at, at).changes === 1;
  }

  async inboxPending(now: Date, limit: number): Promise<InboxRow[]> {
    return this.stmt.inboxPending.all(now.getTime(), limit).map((r) => ({
      seq: r.seq,
      channel: r.channel,
      eventId: r.event_id,
      lane: r.lane,
      payload: r.payload,
      receivedAt: new Date(r.received_at),
      availableAt: new Date(r.available_at),
      attempts: r.attempts,
    }));
  }

  async inboxApplied(seq: number, now: Date): Promise<void> {
    this.stmt.inboxApplied.run(seq, now.getTime());
  }

  async inboxRetry(seq: number, at: Date): Promise<void> {
    this.stmt.inboxRetry.run(at.getTime(), seq);
  }

  async inboxClaimLane(lane: string, owner: string, now: Date, until: Date): Promise<boolean> {
    return this.stmt.inboxClaimLane.run({ lane, owner, now: now.getTime(), until: until.getTime() }).changes === 1;
  }

  async inboxReleaseLane(lane: string, owner: string): Promise<void> {
    this.stmt.inboxReleaseLane.run(lane, owner);
  }

  async outboxAdd(rows: OutboxInsert[], now: Date): Promise<void> {
    this.db.transaction(() => this.addOutbox(rows, now)).immediate();
  }

  async outboxDue(now: Date, limit: number, proactiveLimit = limit): Promise<OutboxRow[]> {
    const rows = CHANNELS.flatMap((channel) => [0, 1].flatMap((proactive) => this.stmt.outboxDue.all(channel, proactive, now.getTime(), proactive ? proactiveLimit : limit)));
    return rows
      .sort((a, b) => a.id - b.id)
      .map((r) => ({
        id: r.id,
        channel: r.channel,
        conversationId: r.conversation_id,
        payload: r.payload,
        createdAt: new Date(r.created_at),
        availableAt: new Date(r.available_at),
        attempts: r.attempts,
        ...(r.proactive ? { proactive: true } : {}),
      }));
  }

  async outboxClaim(row: OutboxRow, until: Date): Promise<boolean> {
    return this.stmt.outboxClaim.run(until.getTime(), row.id, row.availableAt.getTime()).changes === 1;
  }

  async outboxDone(id: number, _now: Date): Promise<void> {
    this.stmt.outboxDone.run(id);
  }

  async outboxRetry(id: number, at: Date): Promise<void> {
    this.stmt.outboxRetry.run(at.getTime(), id);
  }

  async claimDueLearners(now: Date, limit: number, leaseUntil: Date): Promise<DueLearner[]> {
    return this.db.transaction(() => {
      const rows = this.stmt.dueKeys.all(now.getTime(), limit);
      for (const r of rows) this.stmt.setNudgeAt.run(leaseUntil.getTime(), r.channel, r.user_id);
      return rows.map((r) => ({ key: { channel: r.channel, userId: r.user_id }, nudgeAt: new Date(r.nudge_at) }));
    }).immediate();
  }

  /**
   * Erases a learner in one transaction (see the contract), then checkpoints the write-ahead log
   * with TRUNCATE, so that the only copies left were overwritten by `secure_delete`. A table keyed
   * by learner adds its DELETE to `erase` and its rows to `exportLearner`.
   */
  async forgetLearner(key: LearnerKey): Promise<void> {
    const { channel, userId } = key;
    this.db.transaction(() => {
      for (const conversationId of this.groupsWithMember(key)) {
        const anonymousId = formerParticipantId();
        const rename = [anonymousId, FORMER_PARTICIPANT_NAME, channel, conversationId, userId] as const;
        this.db.prepare('UPDATE group_answers SET user_id = ?, display_name = ? WHERE channel = ? AND conversation_id = ? AND user_id = ?').run(...rename);
        this.db.prepare('UPDATE group_scores SET user_id = ?, display_name = ? WHERE channel = ? AND conversation_id = ? AND user_id = ?').run(...rename);
        const group = this.stmt.getGroup.get(channel, conversationId);
        if (!group) continue;
        const state = JSON.parse(group.state) as GroupState;
        const erased = forgetGroupMember(state, userId, anonymousId);
        // A new version, so that a process holding the old state writes nothing over the erasure.
        if (erased !== state) this.db.prepare('UPDATE groups SET state = ?, version = version + 1 WHERE channel = ? AND conversation_id = ?').run(JSON.stringify(erased), channel, conversationId);
      }
      // Owed replies to the learner's own conversation and events not yet applied go too (the reply
      // to /forget itself is written after this).
      const learner = this.stmt.getLearner.get(channel, userId);
      if (learner) this.db.prepare('DELETE FROM outbox WHERE channel = ? AND conversation_id = ?').run(channel, (JSON.parse(learner.address) as Address).conversationId);
      this.db.prepare('DELETE FROM inbox WHERE lane = ?').run(`learner:${channel}:${userId}`);
      this.db.prepare('DELETE FROM inbox_lanes WHERE lane = ?').run(`learner:${channel}:${userId}`);
      this.workshopRows.erase(key);
      const erase = [
        'DELETE FROM learners WHERE channel = ? AND user_id = ?',
        'DELETE FROM activity WHERE channel = ? AND user_id = ?',
        'DELETE FROM learner_days WHERE channel = ? AND user_id = ?',
      ];
      for (const sql of erase) this.db.prepare(sql).run(channel, userId);
      this.stmt.eraseCertificates.run(channel, userId);
      this.db.prepare('DELETE FROM accounts WHERE (channel = ? AND user_id = ?) OR (person_channel = ? AND person_user_id = ?)').run(channel, userId, channel, userId);
      this.db.prepare('DELETE FROM link_codes WHERE person_channel = ? AND person_user_id = ?').run(channel, userId);
      // Statements not sent yet are never sent; sent ones are the LRS's now, and their rows go too.
      this.db.prepare('DELETE FROM xapi_outbox WHERE channel = ? AND user_id = ?').run(channel, userId);
    }).immediate();
    this.checkpoint();
  }

  /** The group conversations that keep anything about a member: answers, scores, or a running quiz. */
  private groupsWithMember(key: LearnerKey): string[] {
    const rows = this.db
      .prepare<[string, string, string, string, string, string], { conversation_id: string }>(
        `SELECT conversation_id FROM group_answers WHERE channel = ? AND user_id = ?
         UNION SELECT conversation_id FROM group_scores WHERE channel = ? AND user_id = ?
         UNION SELECT conversation_id FROM groups WHERE channel = ? AND instr(state, ?) > 0`,
      )
      .all(key.channel, key.userId, key.channel, key.userId, key.channel, JSON.stringify(key.userId));
    return rows.map((r) => r.conversation_id);
  }

  /**
   * Copies the write-ahead log into the database file and empties it. Waits for readers in other
   * processes (busy timeout); if one still holds an old snapshot, says so rather than pretending.
   */
  private checkpoint(): void {
    if (this.path === ':memory:') return;
    const [result] = this.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number; log: number; checkpointed: number }[];
    if (result && result.busy !== 0) {
      throw new Error('the learner was erased, but the write-ahead log could not be emptied while another process was reading: the next /forget or restart empties it');
    }
  }

  /** A learner's workshops for /mydata, only when they joined any. */
  private async workshopsOf(key: LearnerKey): Promise<{ workshops?: WorkshopExport }> {
    const w = await this.workshopRows.exportWorkshopParticipant(key);
    return w.workshops.length || w.answers.length ? { workshops: w } : {};
  }

  async exportLearner(key: LearnerKey): Promise<LearnerExport> {
    const row = this.stmt.getLearner.get(key.channel, key.userId);
    const answers = this.db
      .prepare<[string, string], { conversation_id: string; quiz_id: string; question: number; option: number; display_name: string; at: number }>(
        'SELECT conversation_id, quiz_id, question, option, display_name, at FROM group_answers WHERE channel = ? AND user_id = ? ORDER BY at',
      )
      .all(key.channel, key.userId);
    const scores = this.db
      .prepare<[string, string], { conversation_id: string; display_name: string; points: number; answered: number; correct: number }>(
        'SELECT conversation_id, display_name, points, answered, correct FROM group_scores WHERE channel = ? AND user_id = ?',
      )
      .all(key.channel, key.userId);
    const activity = this.db
      .prepare<[string, string], ActivityDbRow>('SELECT * FROM activity WHERE channel = ? AND user_id = ? ORDER BY at, version, seq')
      .all(key.channel, key.userId)
      .map(fromDbRow);
    const runningQuizzes = this.groupsWithMember(key).flatMap((conversationId) => {
      const group = this.stmt.getGroup.get(key.channel, conversationId);
      const member = group && groupMemberData(JSON.parse(group.state) as GroupState, key.userId);
      return member ? [{ conversationId, ...member }] : [];
    });
    const learner = row ? toLearner(row) : null;
    const certificates = this.stmt.learnerCertificates.all(key.channel, key.userId).map(toCertificate);
    return {
      learner: learner && {
        channel: key.channel,
        userId: key.userId,
        address: learner.address,
        state: learner.state,
        updatedAt: learner.updatedAt.toISOString(),
        nudgeAt: learner.nudgeAt?.toISOString() ?? null,
      },
      groupAnswers: answers.map((a) => ({
        conversationId: a.conversation_id,
        quizId: a.quiz_id,
        question: a.question,
        option: a.option,
        displayName: a.display_name,
        at: new Date(a.at).toISOString(),
      })),
      groupScores: scores.map((s) => ({ conversationId: s.conversation_id, displayName: s.display_name, points: s.points, answered: s.answered, correct: s.correct })),
      runningQuizzes,
      certificates: certificates.map(exportCertificate),
      activity,
      ...(await this.workshopsOf(key)),
    };
  }

  async getGroup(key: ConversationKey): Promise<GroupRecord | null> {
    const row = this.stmt.getGroup.get(key.channel, key.conversationId);
    return row ? { key, version: row.version, state: JSON.parse(row.state) as GroupState, address: JSON.parse(row.address) as Address } : null;
  }

  async commitGroup(c: GroupCommit): Promise<CommitResult> {
    return this.conditional(() => {
      if (c.eventId && this.stmt.markProcessed.run(c.key.channel, this.eventKey(c.eventId), c.now.getTime()).changes === 0) return 'duplicate';
      const args = [JSON.stringify(c.state), JSON.stringify(c.address), c.closesAt?.getTime() ?? null, c.nextQuizAt?.getTime() ?? null] as const;
      const changed =
        c.expectedVersion === 0
          ? this.stmt.insertGroup.run(c.key.channel, c.key.conversationId, ...args).changes
          : this.stmt.updateGroup.run(...args, c.key.channel, c.key.conversationId, c.expectedVersion).changes;
      if (changed === 0) throw new Conflict();
      for (const r of c.scores ?? []) this.stmt.addScore.run(c.key.channel, c.key.conversationId, r.userId, r.displayName, r.points, r.answered, r.correct);
      this.addOutbox(c.outbox, c.now);
      return 'committed';
    });
  }

  async groupsDue(now: Date, limit: number): Promise<ConversationKey[]> {
    return this.stmt.groupsDue.all(now.getTime(), limit).map((r) => ({ channel: r.channel, conversationId: r.conversation_id }));
  }

  async groupQuizzesDue(now: Date, limit: number): Promise<ConversationKey[]> {
    return this.stmt.groupQuizzesDue.all(now.getTime(), limit).map((r) => ({ channel: r.channel, conversationId: r.conversation_id }));
  }

  async recordGroupAnswer(a: AnswerInsert): Promise<'recorded' | 'already_answered' | 'duplicate'> {
    return this.db.transaction(() => {
      if (this.stmt.markProcessed.run(a.key.channel, this.eventKey(a.eventId), a.at.getTime()).changes === 0) return 'duplicate' as const;
      const inserted = this.stmt.insertAnswer.run(a.key.channel, a.key.conversationId, a.quizId, a.question, a.userId, a.displayName, a.option, a.at.getTime()).changes;
      if (!inserted) return 'already_answered' as const;
      this.addOutbox(a.outbox, a.at);
      return 'recorded' as const;
    }).immediate();
  }

  async groupAnswerTally(key: ConversationKey, quizId: string, question: number, userId: string): Promise<AnswerTally> {
    const r = this.stmt.answerTally.get(userId, key.channel, key.conversationId, quizId, question);
    return { count: r?.count ?? 0, mine: r?.mine === 1 };
  }

  async listGroupAnswers(key: ConversationKey, quizId: string, question: number): Promise<GroupAnswer[]> {
    return this.stmt.listAnswers
      .all(key.channel, key.conversationId, quizId, question)
      .map((r) => ({ userId: r.user_id, displayName: r.display_name, option: r.option, at: new Date(r.at) }));
  }

  async addGroupScores(key: ConversationKey, rows: ScoreRow[]): Promise<void> {
    this.db.transaction(() => {
      for (const r of rows) this.stmt.addScore.run(key.channel, key.conversationId, r.userId, r.displayName, r.points, r.answered, r.correct);
    })();
  }

  async leaderboard(key: ConversationKey, limit: number): Promise<ScoreRow[]> {
    return this.stmt.leaderboard
      .all(key.channel, key.conversationId, limit)
      .map((r) => ({ userId: r.user_id, displayName: r.display_name, points: r.points, answered: r.answered, correct: r.correct }));
  }

  async pruneProcessed(before: Date): Promise<number> {
    const t = before.getTime();
    return this.db.transaction(() => this.stmt.pruneProcessed.run(t).changes + this.stmt.pruneInbox.run(t).changes + this.stmt.pruneOutbox.run(t).changes)();
  }

  // ---- Dashboard reads ----

  private all<T>(sql: string, params: (string | number)[]): T[] {
    return this.db.prepare<(string | number)[], T>(sql).all(...params);
  }

  async learnerCounts(f: DashboardFilter): Promise<LearnerCountRow[]> {
    const w = learnerWhere(f);
    return this.all<LearnerCountRow>(
      `SELECT channel, d_lang AS lang, d_country AS country, d_org AS org, COUNT(*) AS learners FROM learners WHERE ${w.sql} GROUP BY channel, d_lang, d_country, d_org`,
      w.params,
    );
  }

  async activityByPeriod(f: DashboardFilter, period: 'day' | 'week'): Promise<PeriodRow[]> {
    // Whole days (as the dashboard asks for) come from the per-learner-day summary.
    if (f.from.getTime() % DAY_MS === 0 && f.to.getTime() % DAY_MS === 0) return this.activityByPeriodFromDays(f, period);
    const w = activityWhere(f);
    // Epoch day 0 was a Thursday: a day's Monday is day - (day + 3) % 7.
    const bucket = period === 'day' ? 'at / 86400000' : '(at / 86400000) - ((at / 86400000) + 3) % 7';
    // Only what the learner did counts as active (a nudge sent or found unreachable does not).
    const rows = this.all<{ p: number; learners: number; lessonsCompleted: number; answers: number }>(
      `SELECT p, COUNT(*) AS learners, SUM(lc) AS lessonsCompleted, SUM(ans) AS answers FROM (
         SELECT ${bucket} AS p, channel, user_id, SUM(type = 'lesson_completed') AS lc, SUM(type = 'item_answered') AS ans
         FROM activity WHERE ${w.sql} AND (type <> 'nudge' OR event NOT IN ('sent', 'unreachable'))
         GROUP BY p, channel, user_id
       ) GROUP BY p ORDER BY p`,
      w.params,
    );
    return rows.map((r) => ({ period: dayString(r.p), learners: r.learners, lessonsCompleted: r.lessonsCompleted, answers: r.answers }));
  }

  private activityByPeriodFromDays(f: DashboardFilter, period: 'day' | 'week'): PeriodRow[] {
    const parts = ['day >= ?', 'day < ?', 'active = 1'];
    const params: (string | number)[] = [f.from.getTime() / DAY_MS, f.to.getTime() / DAY_MS];
    for (const [column, value] of [['+channel', f.channel], ['lang', f.lang], ['country', f.country], ['org', f.org]] as const) {
      if (value === undefined) continue;
      parts.push(`${column} = ?`);
      params.push(value);
    }
    const where = parts.join(' AND ');
    const rows =
      period === 'day'
        ? this.all<{ p: number; learners: number; lessonsCompleted: number; answers: number }>(
            `SELECT day AS p, COUNT(*) AS learners, SUM(completed) AS lessonsCompleted, SUM(answers) AS answers FROM learner_days WHERE ${where} GROUP BY day ORDER BY day`,
            params,
          )
        : this.all<{ p: number; learners: number; lessonsCompleted: number; answers: number }>(
            `SELECT p, COUNT(*) AS learners, SUM(c) AS lessonsCompleted, SUM(a) AS answers FROM (
               SELECT day - (day + 3) % 7 AS p, SUM(completed) AS c, SUM(answers) AS a FROM learner_days WHERE ${where} GROUP BY p, channel, user_id
             ) GROUP BY p ORDER BY p`,
            params,
          );
    return rows.map((r) => ({ period: dayString(r.p), learners: r.learners, lessonsCompleted: r.lessonsCompleted, answers: r.answers }));
  }

  async lessonFunnel(f: DashboardFilter): Promise<{ lessons: LessonFunnelRow[]; durations: DurationBucketRow[] }> {
    const w = activityWhere(f);
    const lessons = this.all<LessonFunnelRow>(
      `SELECT lesson_id AS lessonId, SUM(type = 'lesson_started') AS started, SUM(type = 'lesson_completed' AND first = 1) AS completed,
         COALESCE(SUM(CASE WHEN type = 'lesson_completed' AND first = 1 THEN score END), 0) AS firstScoreSum,
         COALESCE(SUM(CASE WHEN type = 'lesson_completed' AND first = 1 THEN total END), 0) AS firstScoreTotal
       FROM activity WHERE type IN ('lesson_started', 'lesson_completed') AND ${w.sql} GROUP BY lesson_id`,
      w.params,
    );
    const durations = this.all<DurationBucketRow>(
      `SELECT lesson_id AS lessonId, CASE WHEN m < 120 THEN m WHEN m < 4320 THEN (m / 60) * 60 ELSE (m / 1440) * 1440 END AS minutes, COUNT(*) AS count
       FROM (SELECT lesson_id, CAST(duration_ms / 60000 AS INTEGER) AS m FROM activity WHERE type = 'lesson_completed' AND first = 1 AND duration_ms IS NOT NULL AND ${w.sql})
       GROUP BY lessonId, minutes`,
      w.params,
    );
    return { lessons, durations };
  }

  async stopPoints(f: DashboardFilter, silentSince: Date): Promise<StopPointRow[]> {
    const w = learnerWhere(f);
    return this.all<StopPointRow>(
      `SELECT d_stop_kind AS kind, d_stop_lesson AS lessonId, d_stop_card AS card, d_stop_item AS itemId, COUNT(*) AS learners
       FROM learners WHERE ${w.sql} AND d_last_seen < ? GROUP BY d_stop_kind, d_stop_lesson, d_stop_card, d_stop_item`,
      [...w.params, silentSince.toISOString()],
    );
  }

  /**
   * One sequential pass over the period's answers (the table is clustered by type and time), in
   * JavaScript: counts, options chosen, and the point-biserial sums, without sorting or joining
   * millions of rows in temporary B-trees (measured: several times faster at 100,000 learners).
   */
  async itemStats(f: DashboardFilter): Promise<{ items: ItemStatRow[]; options: ItemOptionRow[] }> {
    const w = activityWhere(f);
    const rows = this.db
      .prepare<(string | number)[], [string, string, string, string, number, number, string]>(
        `SELECT channel, user_id, item_id, lesson_id, first, correct, options FROM activity WHERE type = 'item_answered' AND ${w.sql}`,
      )
      .raw();
    const index = new Map<string, number>();
    const items: ItemStatRow[] = [];
    const options = new Map<string, ItemOptionRow>();
    // Per learner: right and total first answers, and each first answer as item * 2 + right.
    const learners = new Map<string, { r: number; k: number; answers: number[] }>();
    for (const [channel, userId, itemId, lessonId, first, correct, chosen] of rows.iterate(...w.params)) {
      let i = index.get(itemId);
      if (i === undefined) {
        i = items.length;
        index.set(itemId, i);
        items.push({ itemId, lessonId, attempts: 0, firstTries: 0, firstTryCorrect: 0, n: 0, sx: 0, sy: 0, sxy: 0, syy: 0 });
      }
      const item = items[i]!;
      item.attempts += 1;
      if (first !== 1) continue;
      item.firstTries += 1;
      item.firstTryCorrect += correct;
      const key = `${itemId}\u0000${chosen}`;
      const o = options.get(key);
      if (o) o.count += 1;
      else options.set(key, { itemId, options: chosen, count: 1 });
      const who = `${channel}\u0000${userId}`;
      let l = learners.get(who);
      if (!l) learners.set(who, (l = { r: 0, k: 0, answers: [] }));
      l.r += correct;
      l.k += 1;
      l.answers.push(i * 2 + correct);
    }
    // x = this first answer right, y = the learner's share right of their other first answers.
    for (const l of learners.values()) {
      if (l.k < 2) continue;
      for (const a of l.answers) {
        const item = items[a >> 1]!;
        const x = a & 1;
        const y = (l.r - x) / (l.k - 1);
        item.n += 1;
        item.sx += x;
        item.sy += y;
        item.sxy += x * y;
        item.syy += y * y;
      }
    }
    return { items, options: [...options.values()] };
  }

  async recallLog(f: DashboardFilter): Promise<RecallRow[]> {
    const w = activityWhere(f);
    return this.all<RecallRow>(
      `SELECT CAST(days_since AS INTEGER) AS days, ROUND(predicted, 2) AS predicted, COUNT(*) AS n, SUM(correct) AS right
       FROM activity WHERE type = 'item_answered' AND predicted IS NOT NULL AND ${w.sql} GROUP BY 1, 2 ORDER BY 1, 2`,
      w.params,
    );
  }

  async nudgeStats(f: DashboardFilter): Promise<NudgeRow[]> {
    const w = activityWhere(f);
    return this.all<NudgeRow>(
      `SELECT event, local_hour AS localHour, COUNT(*) AS count FROM activity WHERE type = 'nudge' AND ${w.sql} GROUP BY event, local_hour ORDER BY local_hour`,
      w.params,
    );
  }

  async teamQuizzes(f: DashboardFilter): Promise<TeamQuizRow[]> {
    const w = activityWhere(f, false);
    const rows = this.all<{ channel: Channel; d: number; quizzes: number; players: number; answers: number }>(
      `SELECT channel, d, COUNT(*) AS quizzes, SUM(players) AS players, SUM(answers) AS answers FROM (
         SELECT channel, MIN(at) / 86400000 AS d, COUNT(DISTINCT user_id) AS players, COUNT(*) AS answers
         FROM group_answers WHERE ${w.sql} GROUP BY channel, conversation_id, quiz_id
       ) GROUP BY channel, d ORDER BY d, channel`,
      w.params,
    );
    return rows.map((r) => ({ channel: r.channel, day: dayString(r.d), quizzes: r.quizzes, players: r.players, answers: r.answers }));
  }

  async ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/** Thrown inside a transaction to roll it back on a version conflict. */
class Conflict extends Error {}

function fromDbRow(r: ActivityDbRow): ActivityRecord {
  return fromActivityRow({
    at: new Date(r.at),
    type: r.type,
    lessonId: r.lesson_id,
    itemId: r.item_id,
    mode: r.mode,
    options: r.options,
    correct: r.correct === null ? null : r.correct === 1,
    first: r.first === null ? null : r.first === 1,
    durationMs: r.duration_ms,
    predicted: r.predicted,
    daysSince: r.days_since,
    score: r.score,
    total: r.total,
    event: r.event,
    localHour: r.local_hour,
  });
}
