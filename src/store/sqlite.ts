/**
 * The embedded store: SQLite through better-sqlite3, in one file under `DATA_DIR`. Needs no server,
 * survives a killed process (WAL with synchronous=FULL: a write that returned is on disk), and
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
import type { LearnerState } from '../engine/state.js';
import { forgetGroupMember, groupMemberData, FORMER_PARTICIPANT_NAME, type GroupState } from '../engine/group.js';
import { eventIdHasher, newEventIdKey } from './event-ids.js';
import { formerParticipantId } from './store.js';
import { SqliteWorkshops } from './sqlite-workshops.js';
import type { WorkshopExport, WorkshopStore } from './workshops.js';
import type {
  AnswerInsert,
  CommitResult,
  ConversationKey,
  DueLearner,
  GroupAnswer,
  GroupCommit,
  GroupRecord,
  LearnerCommit,
  LearnerExport,
  LearnerRecord,
  ScoreRow,
  Store,
} from './store.js';

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
CREATE TABLE IF NOT EXISTS meta (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

/**
 * Columns added after the first release: a file created before gets them at open. Their indexes
 * are created afterwards, since an index on a missing column fails.
 */
const ADDED_COLUMNS = [{ table: 'groups', column: 'next_quiz_at', type: 'INTEGER' }] as const;
const LATER_INDEXES = `
CREATE INDEX IF NOT EXISTS groups_next_quiz_at ON groups (next_quiz_at) WHERE next_quiz_at IS NOT NULL;
`;

interface LearnerRow {
  channel: Channel;
  user_id: string;
  version: number;
  state: string;
  address: string;
  updated_at: number;
  nudge_at: number | null;
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

  /** Opens (and creates) the database file; `:memory:` for a throwaway store. */
  constructor(readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('secure_delete = ON');
    const { key, upgraded } = this.db.transaction(() => {
      this.db.exec(SCHEMA);
      for (const { table, column, type } of ADDED_COLUMNS) {
        const columns = this.db.prepare<[], { name: string }>(`PRAGMA table_info(${table})`).all();
        if (!columns.some((c) => c.name === column)) this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
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
        'INSERT INTO learners (channel, user_id, version, state, address, updated_at, nudge_at) VALUES (?, ?, 1, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      updateLearner: db.prepare(
        'UPDATE learners SET version = version + 1, state = ?, address = ?, updated_at = ?, nudge_at = ? WHERE channel = ? AND user_id = ? AND version = ?',
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
      addScore: db.prepare(
        `INSERT INTO group_scores (channel, conversation_id, user_id, display_name, points, answered, correct) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (channel, conversation_id, user_id) DO UPDATE SET display_name = excluded.display_name,
           points = points + excluded.points, answered = answered + excluded.answered, correct = correct + excluded.correct`,
      ),
      leaderboard: db.prepare<[string, string, number], { user_id: string; display_name: string; points: number; answered: number; correct: number }>(
        'SELECT user_id, display_name, points, answered, correct FROM group_scores WHERE channel = ? AND conversation_id = ? ORDER BY points DESC, correct DESC, display_name LIMIT ?',
      ),
      pruneProcessed: db.prepare('DELETE FROM processed_events WHERE at < ?'),
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
      const args = [JSON.stringify(c.state), JSON.stringify(c.address), c.now.getTime(), c.nudgeAt?.getTime() ?? null] as const;
      const changed =
        c.expectedVersion === 0
          ? this.stmt.insertLearner.run(c.key.channel, c.key.userId, ...args).changes
          : this.stmt.updateLearner.run(...args, c.key.channel, c.key.userId, c.expectedVersion).changes;
      if (changed === 0) throw new Conflict();
      return 'committed';
    });
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

  async markProcessed(channel: Channel, eventId: string, now: Date): Promise<boolean> {
    return this.stmt.markProcessed.run(channel, this.eventKey(eventId), now.getTime()).changes === 1;
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
      this.workshopRows.erase(key);
      const erase = ['DELETE FROM learners WHERE channel = ? AND user_id = ?'];
      for (const sql of erase) this.db.prepare(sql).run(channel, userId);
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
    const runningQuizzes = this.groupsWithMember(key).flatMap((conversationId) => {
      const group = this.stmt.getGroup.get(key.channel, conversationId);
      const member = group && groupMemberData(JSON.parse(group.state) as GroupState, key.userId);
      return member ? [{ conversationId, ...member }] : [];
    });
    const learner = row ? toLearner(row) : null;
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
      return inserted ? ('recorded' as const) : ('already_answered' as const);
    }).immediate();
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
    return this.stmt.pruneProcessed.run(before.getTime()).changes;
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
