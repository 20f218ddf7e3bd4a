/**
 * The MongoDB store (mongoose), used when MONGODB_URI is set. Several web processes and workers can
 * share one database: every state write is a conditional update on a version number, so two
 * processes never lose each other's writes, and every write uses majority write concern.
 *
 * How "the event id is recorded atomically with the write" is kept without multi-document
 * transactions (which a standalone server does not have):
 * - A learner or group document carries the last few event ids applied to it (`recentEvents`), set
 *   in the same single-document atomic update as the new state and version. The update's filter
 *   requires the expected version AND that the event id is not among them. When it matches nothing,
 *   one read tells a 'duplicate' (the id is there) from a 'conflict'.
 * - After the state is written, the id is also inserted into `processed_events` (unique on
 *   {channel, eventId}, TTL on `at`), which `isProcessed` reads and which `markProcessed` writes for
 *   events that change no state. A commit whose id is already there is a 'duplicate' too.
 * Failure modes: a crash between the state update and the processed-event insert leaves the event
 * applied but not in `processed_events`; the platform's retry then reads the new version, and its
 * commit is refused as a 'duplicate' by `recentEvents`, so nothing is applied twice and nothing is
 * lost (the opposite order, inserting the id first, would lose the event on such a crash). A
 * retry that arrives after more than `recentEvents` (default 50) other events of the same learner
 * and after such a crash could be applied twice; retries come within minutes, so this needs a
 * crash and a flood together.
 * - A group commit's score increments (a closed question's points) are written into the group
 *   document as `pendingScores` in the same atomic update, then added to the score rows with `$inc`
 *   guarded by the batch's token (so adding them twice changes nothing), then cleared. If a process
 *   dies in between, the next commit of that group (or a leaderboard read) finishes the job; a commit
 *   never overwrites pending scores that were not added yet.
 * - `forgetLearner` renames the member's answers and scores to a random id with no name, group by
 *   group, erases them from running quizzes (version-checked), then deletes the learner: not
 *   atomic, but idempotent, and the learner document goes last so that a failure leaves something
 *   to retry.
 * - Event ids are stored only as a keyed hash; the key is in the `meta` collection.
 *
 * @example
 * const store = await MongoStore.connect('mongodb://127.0.0.1:27017/digit4sd');
 */
import mongoose, { Types, type Connection } from 'mongoose';
import type { Channel, LearnerKey } from '../messages.js';
import { FORMER_PARTICIPANT_NAME, forgetGroupMember, groupMemberData } from '../engine/group.js';
import { eventIdHasher, newEventIdKey } from './event-ids.js';
import { formerParticipantId } from './store.js';
import {
  DEFAULT_MONGO_SCHEMA_OPTIONS,
  defineModels,
  groupFields,
  groupFilter,
  learnerFields,
  learnerFilter,
  newGroupDoc,
  newLearnerDoc,
  toAnswerDoc,
  toGroupAnswer,
  toGroupRecord,
  toLearnerRecord,
  toScoreRow,
  type GroupAnswerDoc,
  type GroupDoc,
  type GroupScoreDoc,
  type LearnerDoc,
  type MongoModels,
  type PendingScores,
  type ProcessedEventDoc,
} from './mongo-schemas.js';
import type { MigrationItem } from './migrate.js';
import { MongoWorkshops } from './mongo-workshops.js';
import type { WorkshopExport, WorkshopStore } from './workshops.js';
import type {
  AnswerInsert,
  CommitResult,
  ConversationKey,
  GroupAnswer,
  GroupCommit,
  GroupRecord,
  LearnerCommit,
  LearnerExport,
  LearnerRecord,
  DueLearner,
  ScoreRow,
  Store,
} from './store.js';

export interface MongoStoreOptions {
  /** Database name; default: the one in the URI (or `test`, MongoDB's own default). */
  dbName?: string;
  /** How long processed event ids are kept before the TTL index removes them. Default 7 days. */
  processedTtlSeconds?: number;
  /** How many recent event ids each learner and group document keeps. Default 50. */
  recentEvents?: number;
  /**
   * Use this event-id key (and store it in the `meta` collection, replacing any other): the
   * migration passes the embedded store's, so that the processed-event records it copies still
   * match. Default: the key in `meta`, made on first connect.
   */
  eventIdKey?: string;
  /** Create the collections and indexes at connect. Default true. */
  autoIndex?: boolean;
  /** How long to wait for a server at connect and on each operation. Default: the URI's, else the driver's (30 s). */
  serverSelectionTimeoutMS?: number;
}

/** The server could not be reached or set up at start; the message says how to fix it (and never shows the URI). */
export class MongoConnectError extends Error {
  constructor(cause: unknown) {
    super(
      `could not open the MongoDB store: ${cause instanceof Error ? cause.message : String(cause)}. ` +
        'Fix: check that MONGODB_URI points at a running server this machine can reach, or unset it to use the embedded store.',
      { cause },
    );
    this.name = 'MongoConnectError';
  }
}

const DUPLICATE_KEY = 11000;
// The driver as mongoose loads it (not a second copy), so that instanceof holds.
const { MongoBulkWriteError, MongoServerError } = mongoose.mongo;

function isDuplicateKey(err: unknown): boolean {
  return err instanceof MongoServerError && err.code === DUPLICATE_KEY;
}

export class MongoStore implements Store {
  /** Keyed hash of an event id: the only form in which event ids are stored (see `event-ids.ts`). */
  private readonly eventKey: (eventId: string) => string;

  private constructor(
    private readonly conn: Connection,
    private readonly m: MongoModels,
    private readonly recent: number,
    eventIdKey: string,
  ) {
    this.eventKey = eventIdHasher(eventIdKey);
    this.workshopDocs = new MongoWorkshops(conn, this.eventKey);
  }

  private readonly workshopDocs: MongoWorkshops;
  get workshops(): WorkshopStore {
    return this.workshopDocs;
  }

  /** The database's event-id key, made by the first process that needs it (an upsert: all processes agree). */
  private static async eventIdKey(conn: Connection, given?: string): Promise<string> {
    const db = conn.db;
    if (!db) throw new Error('the MongoDB connection is not open');
    const meta = db.collection<{ _id: string; value: string }>('meta');
    if (given) {
      await meta.updateOne({ _id: 'event_id_key' }, { $set: { value: given } }, { upsert: true });
      return given;
    }
    await meta.updateOne({ _id: 'event_id_key' }, { $setOnInsert: { value: newEventIdKey() } }, { upsert: true });
    const doc = await meta.findOne({ _id: 'event_id_key' });
    if (!doc) throw new Error('the event-id key could not be stored in the meta collection');
    return doc.value;
  }

  /** Connects with majority write concern and (by default) creates the collections and indexes. */
  static async connect(uri: string, options: MongoStoreOptions = {}): Promise<MongoStore> {
    const autoIndex = options.autoIndex ?? true;
    const conn = mongoose.createConnection(uri, {
      ...(options.dbName ? { dbName: options.dbName } : {}),
      writeConcern: { w: 'majority' },
      ...(options.serverSelectionTimeoutMS !== undefined ? { serverSelectionTimeoutMS: options.serverSelectionTimeoutMS } : {}),
      autoIndex: false,
      autoCreate: false,
    });
    try {
      await conn.asPromise();
      const models = defineModels(conn, { processedTtlSeconds: options.processedTtlSeconds ?? DEFAULT_MONGO_SCHEMA_OPTIONS.processedTtlSeconds });
      if (autoIndex) {
        for (const model of Object.values(models)) {
          await model.createCollection();
          await model.createIndexes();
        }
      }
      const store = new MongoStore(conn, models, options.recentEvents ?? 50, await MongoStore.eventIdKey(conn, options.eventIdKey));
      if (autoIndex) await store.workshopDocs.createIndexes();
      return store;
    } catch (err) {
      await conn.close();
      throw new MongoConnectError(err);
    }
  }

  /** The database this store writes to (for tests and the migration). */
  get dbName(): string {
    return this.conn.name;
  }

  async getLearner(key: LearnerKey): Promise<LearnerRecord | null> {
    const doc = await this.m.Learner.findOne(learnerFilter(key)).lean();
    return doc ? toLearnerRecord(doc) : null;
  }

  async commitLearner(commit: LearnerCommit): Promise<CommitResult> {
    const c = commit.eventId ? { ...commit, eventId: this.eventKey(commit.eventId) } : commit;
    if (c.eventId && (await this.processed(c.key.channel, c.eventId))) return 'duplicate';
    const filter = learnerFilter(c.key);
    if (c.expectedVersion === 0) {
      try {
        await this.m.Learner.create(newLearnerDoc(c));
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        return this.refused(await this.m.Learner.findOne(filter, { recentEvents: 1 }).lean(), c.eventId);
      }
    } else {
      const fields = learnerFields(c);
      const { nudgeAt, ...rest } = fields;
      const res = await this.m.Learner.updateOne(
        { ...filter, version: c.expectedVersion, ...(c.eventId ? { recentEvents: { $ne: c.eventId } } : {}) },
        {
          $set: { ...rest, ...(nudgeAt ? { nudgeAt } : {}) },
          ...(nudgeAt ? {} : { $unset: { nudgeAt: 1 } }),
          $inc: { version: 1 },
          ...(c.eventId ? { $push: { recentEvents: { $each: [c.eventId], $slice: -this.recent } } } : {}),
        },
        { runValidators: true },
      );
      if (res.matchedCount === 0) return this.refused(await this.m.Learner.findOne(filter, { recentEvents: 1 }).lean(), c.eventId);
    }
    if (c.eventId) await this.mark(c.key.channel, c.eventId, c.now);
    return 'committed';
  }

  /** Why a conditional write matched nothing: the event was applied already, or the version moved. */
  private refused(doc: { recentEvents?: string[] } | null, eventId: string | undefined): CommitResult {
    return eventId && doc?.recentEvents?.includes(eventId) ? 'duplicate' : 'conflict';
  }

  async isProcessed(channel: Channel, eventId: string): Promise<boolean> {
    return this.processed(channel, this.eventKey(eventId));
  }

  async markProcessed(channel: Channel, eventId: string, now: Date): Promise<boolean> {
    return this.mark(channel, this.eventKey(eventId), now);
  }

  /** {@link isProcessed} for an id already hashed. */
  private async processed(channel: Channel, eventId: string): Promise<boolean> {
    return (await this.m.ProcessedEvent.exists({ channel, eventId })) !== null;
  }

  /** {@link markProcessed} for an id already hashed. */
  private async mark(channel: Channel, eventId: string, now: Date): Promise<boolean> {
    try {
      const res = await this.m.ProcessedEvent.updateOne({ channel, eventId }, { $setOnInsert: { at: now } }, { upsert: true });
      return res.upsertedCount === 1;
    } catch (err) {
      // Two processes upserting the same new id at once: one inserts, the other hits the unique index.
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  /**
   * Reads the due learners, then claims each with a compare-and-set on the nudgeAt it read: when two
   * workers scan at once, each learner's update matches for one of them only, and a learner whose
   * nudgeAt an event just rewrote is left alone. Records are returned as read (as the SQLite store does).
   */
  async claimDueLearners(now: Date, limit: number, leaseUntil: Date): Promise<DueLearner[]> {
    const due = await this.m.Learner.find({ nudgeAt: { $exists: true, $lte: now } }, { channel: 1, userId: 1, nudgeAt: 1 })
      .sort({ nudgeAt: 1 })
      .limit(limit)
      .lean();
    if (!due.length) return [];
    // Compare-and-set, one learner at a time (in parallel): the lease is written only where nudgeAt
    // is still the value read, so a concurrent scanner that claimed a learner first keeps it, and
    // only what this call claimed is returned.
    const claimed = await Promise.all(
      due.map((d) => this.m.Learner.findOneAndUpdate({ _id: d._id, nudgeAt: d.nudgeAt }, { $set: { nudgeAt: leaseUntil } }, { projection: { _id: 1 } }).lean()),
    );
    return due.filter((_, i) => claimed[i]).map((d) => ({ key: { channel: d.channel as Channel, userId: d.userId }, nudgeAt: d.nudgeAt as Date }));
  }

  async forgetLearner(key: LearnerKey): Promise<void> {
    for (const conversationId of await this.groupsWithMember(key)) {
      const group: ConversationKey = { channel: key.channel, conversationId };
      // Points still pending in the group document carry the member's id: add them first.
      await this.settlePending(group);
      const anonymousId = formerParticipantId();
      const rename = { $set: { userId: anonymousId, displayName: FORMER_PARTICIPANT_NAME } };
      await this.m.GroupAnswer.updateMany({ ...groupFilter(group), userId: key.userId }, rename);
      await this.m.GroupScore.updateMany({ ...groupFilter(group), userId: key.userId }, rename);
      // Version-checked, as every group write: a process holding the old state then re-reads it.
      for (let attempt = 0; attempt < 20; attempt++) {
        const doc = await this.m.Group.findOne(groupFilter(group)).lean();
        if (!doc) break;
        const record = toGroupRecord(doc);
        const erased = forgetGroupMember(record.state, key.userId, anonymousId);
        if (erased === record.state) break;
        const res = await this.m.Group.updateOne({ ...groupFilter(group), version: record.version }, { $set: { state: erased }, $inc: { version: 1 } });
        if (res.matchedCount === 1) break;
      }
    }
    await this.workshopDocs.forgetWorkshopParticipant(key);
    // The learner document goes last, so that a failure above leaves something to retry.
    await this.m.Learner.deleteOne(learnerFilter(key));
  }

  /** The group conversations that keep anything about a member: answers, scores, or a running quiz. */
  private async groupsWithMember(key: LearnerKey): Promise<string[]> {
    const [answered, scored, running] = await Promise.all([
      this.m.GroupAnswer.distinct('conversationId', learnerFilter(key)),
      this.m.GroupScore.distinct('conversationId', learnerFilter(key)),
      this.m.Group.find({ channel: key.channel, 'state.quiz': { $ne: null } }).lean(),
    ]);
    const withQuiz = running.filter((d) => groupMemberData(toGroupRecord(d).state, key.userId)).map((d) => d.conversationId);
    return [...new Set([...answered, ...scored, ...withQuiz].map(String))];
  }

  /** A learner's workshops for /mydata, only when they joined any. */
  private async workshopsOf(key: LearnerKey): Promise<{ workshops?: WorkshopExport }> {
    const w = await this.workshopDocs.exportWorkshopParticipant(key);
    return w.workshops.length || w.answers.length ? { workshops: w } : {};
  }

  async exportLearner(key: LearnerKey): Promise<LearnerExport> {
    const [doc, answers, scores, conversations] = await Promise.all([
      this.m.Learner.findOne(learnerFilter(key)).lean(),
      this.m.GroupAnswer.find(learnerFilter(key)).sort({ at: 1 }).lean(),
      this.m.GroupScore.find(learnerFilter(key)).lean(),
      this.groupsWithMember(key),
    ]);
    const runningQuizzes: LearnerExport['runningQuizzes'] = [];
    for (const conversationId of conversations) {
      const group = await this.m.Group.findOne(groupFilter({ channel: key.channel, conversationId })).lean();
      const member = group && groupMemberData(toGroupRecord(group).state, key.userId);
      if (member) runningQuizzes.push({ conversationId, ...member });
    }
    const learner = doc ? toLearnerRecord(doc) : null;
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
        conversationId: a.conversationId,
        quizId: a.quizId,
        question: a.question,
        option: a.option,
        displayName: a.displayName,
        at: new Date(a.at).toISOString(),
      })),
      groupScores: scores.map((s) => ({ conversationId: s.conversationId, displayName: s.displayName, points: s.points, answered: s.answered, correct: s.correct })),
      runningQuizzes,
      ...(await this.workshopsOf(key)),
    };
  }

  async getGroup(key: ConversationKey): Promise<GroupRecord | null> {
    const doc = await this.m.Group.findOne(groupFilter(key)).lean();
    return doc ? toGroupRecord(doc) : null;
  }

  async commitGroup(commit: GroupCommit): Promise<CommitResult> {
    const c = commit.eventId ? { ...commit, eventId: this.eventKey(commit.eventId) } : commit;
    if (c.eventId && (await this.processed(c.key.channel, c.eventId))) return 'duplicate';
    const filter = groupFilter(c.key);
    const pending: PendingScores | null = c.scores?.length ? { token: new Types.ObjectId().toHexString(), rows: c.scores } : null;
    if (c.expectedVersion === 0) {
      try {
        await this.m.Group.create(newGroupDoc(c, pending));
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        return this.refused(await this.m.Group.findOne(filter, { recentEvents: 1 }).lean(), c.eventId);
      }
    } else {
      const { closesAt, nextQuizAt, ...rest } = groupFields(c);
      // The indexed times are absent when null (partial indexes); pendingScores is null or absent
      // here (the filter says so), so only they may need removing.
      const unset = { ...(closesAt ? {} : { closesAt: 1 }), ...(nextQuizAt ? {} : { nextQuizAt: 1 }) };
      const update = {
        $set: { ...rest, ...(closesAt ? { closesAt } : {}), ...(nextQuizAt ? { nextQuizAt } : {}), ...(pending ? { pendingScores: pending } : {}) },
        ...(Object.keys(unset).length ? { $unset: unset } : {}),
        $inc: { version: 1 },
        ...(c.eventId ? { $push: { recentEvents: { $each: [c.eventId], $slice: -this.recent } } } : {}),
      };
      const conditional = { ...filter, version: c.expectedVersion, pendingScores: null, ...(c.eventId ? { recentEvents: { $ne: c.eventId } } : {}) };
      let res = await this.m.Group.updateOne(conditional, update, { runValidators: true });
      if (res.matchedCount === 0) {
        const doc = await this.m.Group.findOne(filter, { version: 1, recentEvents: 1, pendingScores: 1 }).lean();
        if (doc?.version === c.expectedVersion && doc.pendingScores && !(c.eventId && doc.recentEvents.includes(c.eventId))) {
          // The previous commit's points were not added yet (its process died): add them, then retry once.
          await this.settleScores(c.key, doc.pendingScores);
          res = await this.m.Group.updateOne(conditional, update, { runValidators: true });
        }
        if (res.matchedCount === 0) return this.refused(doc, c.eventId);
      }
    }
    if (c.eventId) await this.mark(c.key.channel, c.eventId, c.now);
    if (pending) await this.settleScores(c.key, pending);
    return 'committed';
  }

  /** Adds a pending batch of points once (guarded by its token), then clears it from the group. */
  private async settleScores(key: ConversationKey, pending: PendingScores): Promise<void> {
    for (const row of pending.rows) await this.incrementScore(key, row, pending.token);
    await this.m.Group.updateOne({ ...groupFilter(key), 'pendingScores.token': pending.token }, { $unset: { pendingScores: 1 } });
  }

  /** Adds a group's pending points, if a process died before it could. */
  private async settlePending(key: ConversationKey): Promise<void> {
    const doc = await this.m.Group.findOne({ ...groupFilter(key), pendingScores: { $ne: null } }, { pendingScores: 1 }).lean();
    if (doc?.pendingScores) await this.settleScores(key, doc.pendingScores);
  }

  /**
   * `$inc` upsert of one score row. With a token, the row remembers it, so a second try of the same
   * batch matches nothing and (the row existing) its upsert fails on the unique index: already added.
   */
  private async incrementScore(key: ConversationKey, r: ScoreRow, token?: string): Promise<void> {
    const filter = { ...groupFilter(key), userId: r.userId, ...(token ? { applied: { $ne: token } } : {}) };
    const update = {
      $set: { displayName: r.displayName },
      $inc: { points: r.points, answered: r.answered, correct: r.correct },
      ...(token ? { $push: { applied: { $each: [token], $slice: -this.recent } } } : {}),
    };
    for (let attempt = 0; ; attempt++) {
      try {
        await this.m.GroupScore.updateOne(filter, update, { upsert: true });
        return;
      } catch (err) {
        // A duplicate key is either a concurrent first insert of the row (try again: it exists now)
        // or, on the second try, a row that already has this token.
        if (!isDuplicateKey(err)) throw err;
        if (attempt >= 1) {
          if (token) return;
          throw err;
        }
      }
    }
  }

  async groupsDue(now: Date, limit: number): Promise<ConversationKey[]> {
    const docs = await this.m.Group.find({ closesAt: { $exists: true, $lte: now } }, { channel: 1, conversationId: 1 })
      .sort({ closesAt: 1 })
      .limit(limit)
      .lean();
    return docs.map((d) => ({ channel: d.channel, conversationId: d.conversationId }));
  }

  async groupQuizzesDue(now: Date, limit: number): Promise<ConversationKey[]> {
    const docs = await this.m.Group.find({ nextQuizAt: { $exists: true, $lte: now } }, { channel: 1, conversationId: 1 })
      .sort({ nextQuizAt: 1 })
      .limit(limit)
      .lean();
    return docs.map((d) => ({ channel: d.channel, conversationId: d.conversationId }));
  }

  async recordGroupAnswer(answer: AnswerInsert): Promise<'recorded' | 'already_answered' | 'duplicate'> {
    const a = { ...answer, eventId: this.eventKey(answer.eventId) };
    if (await this.processed(a.key.channel, a.eventId)) return 'duplicate';
    // The answer (carrying its event id) goes first: a crash before the processed-event insert
    // leaves a redelivery to be recognised by the answer's eventId, and loses nothing.
    try {
      await this.m.GroupAnswer.create(toAnswerDoc(a));
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const existing = await this.m.GroupAnswer.findOne(
        { channel: a.key.channel, conversationId: a.key.conversationId, quizId: a.quizId, question: a.question, userId: a.userId },
        { eventId: 1 },
      ).lean();
      // Either way the event is now applied (as in the SQLite store): a redelivery is a 'duplicate'.
      await this.mark(a.key.channel, a.eventId, a.at);
      return existing?.eventId === a.eventId ? 'duplicate' : 'already_answered';
    }
    await this.mark(a.key.channel, a.eventId, a.at);
    return 'recorded';
  }

  async listGroupAnswers(key: ConversationKey, quizId: string, question: number): Promise<GroupAnswer[]> {
    const docs = await this.m.GroupAnswer.find({ ...groupFilter(key), quizId, question }).sort({ at: 1, userId: 1 }).lean();
    return docs.map(toGroupAnswer);
  }

  async addGroupScores(key: ConversationKey, rows: ScoreRow[]): Promise<void> {
    for (const r of rows) await this.incrementScore(key, r);
  }

  async leaderboard(key: ConversationKey, limit: number): Promise<ScoreRow[]> {
    await this.settlePending(key);
    const docs = await this.m.GroupScore.find(groupFilter(key)).sort({ points: -1, correct: -1, displayName: 1 }).limit(limit).lean();
    return docs.map(toScoreRow);
  }

  async pruneProcessed(before: Date): Promise<number> {
    const res = await this.m.ProcessedEvent.deleteMany({ at: { $lt: before } });
    return res.deletedCount;
  }

  async ping(): Promise<void> {
    const db = this.conn.db;
    if (!db) throw new Error('the MongoDB connection is not open');
    await db.admin().ping();
  }

  async close(): Promise<void> {
    await this.conn.close();
  }

  /**
   * Writes migrated documents, replacing by key with the source's values (never `$inc`), so that a
   * second run gives the same result. A learner or group that is already newer here (a higher
   * version: the bot ran on MongoDB since) is kept. Returns how many were kept that way.
   */
  async importBatch(items: MigrationItem[]): Promise<{ written: number; keptNewer: number }> {
    let keptNewer = 0;
    const run = async (write: () => Promise<unknown>) => {
      try {
        await write();
      } catch (err) {
        // A versioned upsert that found a newer document matches nothing, then fails its insert on the unique key.
        if (err instanceof MongoBulkWriteError) {
          const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
          if (errors.every((e) => e.code === DUPLICATE_KEY)) {
            keptNewer += errors.length;
            return;
          }
        }
        throw err;
      }
    };
    const learners: LearnerDoc[] = [];
    const groups: GroupDoc[] = [];
    const processed: ProcessedEventDoc[] = [];
    const answers: GroupAnswerDoc[] = [];
    const scores: GroupScoreDoc[] = [];
    for (const item of items) {
      if (item.kind === 'learner') learners.push(item.doc);
      else if (item.kind === 'group') groups.push(item.doc);
      else if (item.kind === 'processed') processed.push(item.doc);
      else if (item.kind === 'answer') answers.push(item.doc);
      else scores.push(item.doc);
    }
    const opts = { ordered: false } as const;
    if (learners.length)
      await run(() =>
        this.m.Learner.bulkWrite(
          learners.map((doc) => ({ replaceOne: { filter: { channel: doc.channel, userId: doc.userId, version: { $lte: doc.version } }, replacement: doc, upsert: true } })),
          opts,
        ),
      );
    if (groups.length)
      await run(() =>
        this.m.Group.bulkWrite(
          groups.map((doc) => ({
            replaceOne: { filter: { channel: doc.channel, conversationId: doc.conversationId, version: { $lte: doc.version } }, replacement: doc, upsert: true },
          })),
          opts,
        ),
      );
    if (processed.length)
      await run(() =>
        this.m.ProcessedEvent.bulkWrite(
          processed.map((doc) => ({ replaceOne: { filter: { channel: doc.channel, eventId: doc.eventId }, replacement: doc, upsert: true } })),
          opts,
        ),
      );
    if (answers.length)
      await run(() =>
        this.m.GroupAnswer.bulkWrite(
          answers.map((doc) => ({
            replaceOne: {
              filter: { channel: doc.channel, conversationId: doc.conversationId, quizId: doc.quizId, question: doc.question, userId: doc.userId },
              replacement: doc,
              upsert: true,
            },
          })),
          opts,
        ),
      );
    if (scores.length)
      await run(() =>
        this.m.GroupScore.bulkWrite(
          scores.map((doc) => ({ replaceOne: { filter: { channel: doc.channel, conversationId: doc.conversationId, userId: doc.userId }, replacement: doc, upsert: true } })),
          opts,
        ),
      );
    return { written: items.length - keptNewer, keptNewer };
  }

  /** Drops this store's database (tests only). */
  async dropDatabase(): Promise<void> {
    await this.conn.dropDatabase();
  }
}
