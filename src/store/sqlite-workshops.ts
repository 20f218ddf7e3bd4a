/**
 * The workshop part of the embedded store (see {@link WorkshopStore}), on the SQLite store's own
 * database: one row per workshop (version-checked), one per participant, one per answer (the
 * primary key counts each participant's answer to a step once).
 */
import type Database from 'better-sqlite3';
import type { Address, Channel, LearnerKey } from '../messages.js';
import type { Lang } from '../engine/state.js';
import type { Tally, WorkshopState } from '../engine/workshop.js';
import { FORMER_PARTICIPANT_NAME } from '../engine/group.js';
import { formerParticipantId } from './store.js';
import type {
  NewWorkshopRecord,
  WorkshopAnswer,
  WorkshopAnswerInsert,
  WorkshopCommit,
  WorkshopExport,
  WorkshopJoin,
  WorkshopParticipant,
  WorkshopRecord,
  WorkshopStore,
} from './workshops.js';

export const WORKSHOP_SCHEMA = `
CREATE TABLE IF NOT EXISTS workshops (
  id TEXT PRIMARY KEY,
  code TEXT NOT NULL UNIQUE,
  board_token TEXT NOT NULL UNIQUE,
  version INTEGER NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS workshops_created ON workshops (created_at);
CREATE TABLE IF NOT EXISTS workshop_participants (
  workshop_id TEXT NOT NULL,
  channel TEXT NOT NULL,
  user_id TEXT NOT NULL,
  display_name TEXT NOT NULL,
  lang TEXT NOT NULL,
  address TEXT NOT NULL,
  joined_at INTEGER NOT NULL,
  delivered_post INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (workshop_id, channel, user_id)
);
CREATE INDEX IF NOT EXISTS workshop_participants_user ON workshop_participants (channel, user_id, joined_at);
CREATE INDEX IF NOT EXISTS workshop_participants_owed ON workshop_participants (workshop_id, delivered_post);
CREATE TABLE IF NOT EXISTS workshop_answers (
  workshop_id TEXT NOT NULL,
  step INTEGER NOT NULL,
  channel TEXT NOT NULL,
  user_id TEXT NOT NULL,
  display_name TEXT NOT NULL,
  item_id TEXT NOT NULL,
  option INTEGER NOT NULL,
  correct INTEGER NOT NULL,
  at INTEGER NOT NULL,
  event_id TEXT NOT NULL,
  PRIMARY KEY (workshop_id, step, channel, user_id)
);
CREATE INDEX IF NOT EXISTS workshop_answers_user ON workshop_answers (channel, user_id);
`;

interface WorkshopRow {
  id: string;
  code: string;
  board_token: string;
  version: number;
  state: string;
  created_at: number;
  updated_at: number;
}
interface ParticipantRow {
  workshop_id: string;
  channel: Channel;
  user_id: string;
  display_name: string;
  lang: string;
  address: string;
  joined_at: number;
  delivered_post: number;
}
interface AnswerRow {
  workshop_id: string;
  step: number;
  channel: Channel;
  user_id: string;
  display_name: string;
  item_id: string;
  option: number;
  correct: number;
  at: number;
  event_id: string;
}

const toWorkshop = (r: WorkshopRow): WorkshopRecord => ({
  id: r.id,
  code: r.code,
  boardToken: r.board_token,
  version: r.version,
  state: JSON.parse(r.state) as WorkshopState,
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
});
const toParticipant = (r: ParticipantRow): WorkshopParticipant => ({
  workshopId: r.workshop_id,
  learner: { channel: r.channel, userId: r.user_id },
  displayName: r.display_name,
  lang: r.lang as Lang,
  address: JSON.parse(r.address) as Address,
  joinedAt: new Date(r.joined_at),
  deliveredPost: r.delivered_post,
});
const toAnswer = (r: AnswerRow): WorkshopAnswer => ({
  workshopId: r.workshop_id,
  step: r.step,
  learner: { channel: r.channel, userId: r.user_id },
  displayName: r.display_name,
  itemId: r.item_id,
  option: r.option,
  correct: r.correct === 1,
  at: new Date(r.at),
});

export class SqliteWorkshops implements WorkshopStore {
  private readonly stmt;

  /**
   * `eventKey` hashes event ids (the store keeps no raw platform id). The tables are created here;
   * the store's `forgetLearner` calls {@link erase} inside its own transaction.
   */
  constructor(
    private readonly db: Database.Database,
    private readonly eventKey: (eventId: string) => string,
  ) {
    db.exec(WORKSHOP_SCHEMA);
    this.stmt = {
      insert: db.prepare('INSERT INTO workshops (id, code, board_token, version, state, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?, ?) ON CONFLICT DO NOTHING'),
      byId: db.prepare<[string], WorkshopRow>('SELECT * FROM workshops WHERE id = ?'),
      byCode: db.prepare<[string], WorkshopRow>('SELECT * FROM workshops WHERE code = ?'),
      byToken: db.prepare<[string], WorkshopRow>('SELECT * FROM workshops WHERE board_token = ?'),
      list: db.prepare<[number], WorkshopRow>('SELECT * FROM workshops ORDER BY created_at DESC LIMIT ?'),
      update: db.prepare('UPDATE workshops SET version = version + 1, state = ?, updated_at = ? WHERE id = ? AND version = ?'),
      join: db.prepare(
        `INSERT INTO workshop_participants (workshop_id, channel, user_id, display_name, lang, address, joined_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (workshop_id, channel, user_id) DO UPDATE SET display_name = excluded.display_name, lang = excluded.lang, address = excluded.address`,
      ),
      participant: db.prepare<[string, string, string], ParticipantRow>('SELECT * FROM workshop_participants WHERE workshop_id = ? AND channel = ? AND user_id = ?'),
      count: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM workshop_participants WHERE workshop_id = ?'),
      owed: db.prepare<[string, number, number], ParticipantRow>('SELECT * FROM workshop_participants WHERE workshop_id = ? AND delivered_post < ? ORDER BY joined_at LIMIT ?'),
      participants: db.prepare<[string], ParticipantRow>('SELECT * FROM workshop_participants WHERE workshop_id = ? ORDER BY joined_at'),
      delivered: db.prepare('UPDATE workshop_participants SET delivered_post = MAX(delivered_post, ?) WHERE workshop_id = ? AND channel = ? AND user_id = ?'),
      last: db.prepare<[string, string], { workshop_id: string }>('SELECT workshop_id FROM workshop_participants WHERE channel = ? AND user_id = ? ORDER BY joined_at DESC LIMIT 1'),
      answer: db.prepare(
        'INSERT INTO workshop_answers (workshop_id, step, channel, user_id, display_name, item_id, option, correct, at, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      answerOf: db.prepare<[string, number, string, string], AnswerRow>('SELECT * FROM workshop_answers WHERE workshop_id = ? AND step = ? AND channel = ? AND user_id = ?'),
      tally: db.prepare<[string, number], { option: number; n: number }>('SELECT option, COUNT(*) AS n FROM workshop_answers WHERE workshop_id = ? AND step = ? GROUP BY option'),
      answers: db.prepare<[string], AnswerRow>('SELECT * FROM workshop_answers WHERE workshop_id = ? ORDER BY step, at'),
      forgetParticipants: db.prepare('DELETE FROM workshop_participants WHERE channel = ? AND user_id = ?'),
      answeredIn: db.prepare<[string, string], { workshop_id: string }>('SELECT DISTINCT workshop_id FROM workshop_answers WHERE channel = ? AND user_id = ?'),
      anonymise: db.prepare('UPDATE workshop_answers SET user_id = ?, display_name = ?, event_id = ? WHERE workshop_id = ? AND channel = ? AND user_id = ?'),
      userParticipations: db.prepare<[string, string], ParticipantRow>('SELECT * FROM workshop_participants WHERE channel = ? AND user_id = ? ORDER BY joined_at'),
      userAnswers: db.prepare<[string, string], AnswerRow>('SELECT * FROM workshop_answers WHERE channel = ? AND user_id = ? ORDER BY at'),
    };
  }

  async createWorkshop(w: NewWorkshopRecord): Promise<'created' | 'code_taken'> {
    const t = w.now.getTime();
    return this.stmt.insert.run(w.id, w.code, w.boardToken, JSON.stringify(w.state), t, t).changes === 1 ? 'created' : 'code_taken';
  }

  async getWorkshop(id: string): Promise<WorkshopRecord | null> {
    const r = this.stmt.byId.get(id);
    return r ? toWorkshop(r) : null;
  }

  async workshopByCode(code: string): Promise<WorkshopRecord | null> {
    const r = this.stmt.byCode.get(code);
    return r ? toWorkshop(r) : null;
  }

  async workshopByBoardToken(token: string): Promise<WorkshopRecord | null> {
    const r = this.stmt.byToken.get(token);
    return r ? toWorkshop(r) : null;
  }

  async listWorkshops(limit: number): Promise<WorkshopRecord[]> {
    return this.stmt.list.all(limit).map(toWorkshop);
  }

  async commitWorkshop(c: WorkshopCommit): Promise<'committed' | 'conflict'> {
    return this.stmt.update.run(JSON.stringify(c.state), c.now.getTime(), c.id, c.expectedVersion).changes === 1 ? 'committed' : 'conflict';
  }

  async joinWorkshop(j: WorkshopJoin): Promise<'joined' | 'rejoined'> {
    return this.db.transaction(() => {
      const existed = !!this.stmt.participant.get(j.workshopId, j.learner.channel, j.learner.userId);
      this.stmt.join.run(j.workshopId, j.learner.channel, j.learner.userId, j.displayName, j.lang, JSON.stringify(j.address), j.now.getTime());
      return existed ? ('rejoined' as const) : ('joined' as const);
    }).immediate();
  }

  async getParticipant(workshopId: string, learner: LearnerKey): Promise<WorkshopParticipant | null> {
    const r = this.stmt.participant.get(workshopId, learner.channel, learner.userId);
    return r ? toParticipant(r) : null;
  }

  async countParticipants(workshopId: string): Promise<number> {
    return this.stmt.count.get(workshopId)!.n;
  }

  async participantsOwed(workshopId: string, post: number, limit: number): Promise<WorkshopParticipant[]> {
    return this.stmt.owed.all(workshopId, post, limit).map(toParticipant);
  }

  async listParticipants(workshopId: string): Promise<WorkshopParticipant[]> {
    return this.stmt.participants.all(workshopId).map(toParticipant);
  }

  async markDelivered(workshopId: string, learner: LearnerKey, post: number): Promise<void> {
    this.stmt.delivered.run(post, workshopId, learner.channel, learner.userId);
  }

  async lastWorkshopOf(learner: LearnerKey): Promise<string | null> {
    return this.stmt.last.get(learner.channel, learner.userId)?.workshop_id ?? null;
  }

  async recordWorkshopAnswer(a: WorkshopAnswerInsert): Promise<'recorded' | 'already_answered' | 'duplicate'> {
    return this.db.transaction(() => {
      const eventId = this.eventKey(a.eventId);
      const inserted = this.stmt.answer.run(a.workshopId, a.step, a.learner.channel, a.learner.userId, a.displayName, a.itemId, a.option, a.correct ? 1 : 0, a.at.getTime(), eventId).changes === 1;
      if (inserted) return 'recorded' as const;
      const existing = this.stmt.answerOf.get(a.workshopId, a.step, a.learner.channel, a.learner.userId);
      return existing?.event_id === eventId ? ('duplicate' as const) : ('already_answered' as const);
    }).immediate();
  }

  async getWorkshopAnswer(workshopId: string, step: number, learner: LearnerKey): Promise<WorkshopAnswer | null> {
    const r = this.stmt.answerOf.get(workshopId, step, learner.channel, learner.userId);
    return r ? toAnswer(r) : null;
  }

  async tallyWorkshopStep(workshopId: string, step: number, options: number): Promise<Tally> {
    const counts = new Array<number>(options).fill(0);
    let answered = 0;
    for (const r of this.stmt.tally.all(workshopId, step)) {
      if (r.option < options) counts[r.option] = r.n;
      answered += r.n;
    }
    return { counts, answered };
  }

  async listWorkshopAnswers(workshopId: string): Promise<WorkshopAnswer[]> {
    return this.stmt.answers.all(workshopId).map(toAnswer);
  }

  /**
   * Erases a learner from every workshop: their participation rows go; their answers stay counted
   * in the session's results under a random id and no name, linked to nothing (as team-quiz answers).
   * Runs in the caller's transaction.
   */
  erase(learner: LearnerKey): void {
    for (const { workshop_id } of this.stmt.answeredIn.all(learner.channel, learner.userId)) {
      const anonymous = formerParticipantId();
      this.stmt.anonymise.run(anonymous, FORMER_PARTICIPANT_NAME, anonymous, workshop_id, learner.channel, learner.userId);
    }
    this.stmt.forgetParticipants.run(learner.channel, learner.userId);
  }

  async forgetWorkshopParticipant(learner: LearnerKey): Promise<void> {
    this.db.transaction(() => this.erase(learner)).immediate();
  }

  async exportWorkshopParticipant(learner: LearnerKey): Promise<WorkshopExport> {
    return {
      workshops: this.stmt.userParticipations.all(learner.channel, learner.userId).map((r) => ({ workshopId: r.workshop_id, displayName: r.display_name, lang: r.lang, joinedAt: new Date(r.joined_at).toISOString() })),
      answers: this.stmt.userAnswers.all(learner.channel, learner.userId).map((r) => ({ workshopId: r.workshop_id, step: r.step, itemId: r.item_id, option: r.option, correct: r.correct === 1, at: new Date(r.at).toISOString() })),
    };
  }
}
