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
 *   group, erases them from running quizzes (version-checked), erases the holder, name and
 *   credential of their certificates, then deletes the learner: not
 *   atomic, but idempotent, and the learner document goes last so that a failure leaves something
 *   to retry.
 * - Event ids are stored only as a keyed hash; the key is in the `meta` collection.
 * - Certificates issued by a learner commit are upserted by their id before the learner update: a
 *   refused or lost update leaves a signed record that no learner state points to (never sent to
 *   anyone; a retry of the event upserts the same id again), never a learner told of a certificate
 *   that `/verify` does not know.
 *
 * @example
 * const store = await MongoStore.connect('mongodb://127.0.0.1:27017/digit4sd');
 */
import mongoose, { Types, type Connection } from 'mongoose';
import type { Address, Channel, LearnerKey } from '../messages.js';
import { CHANNELS } from '../messages.js';
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
  toCertificateDoc,
  toAddressDoc,
  fromAddressDoc,
  toCertificateRecord,
  type CertificateDoc,
  toActivityDoc,
  type ActivityDoc,
  type GroupAnswerDoc,
  type GroupDoc,
  type GroupScoreDoc,
  type LearnerDoc,
  type MongoModels,
  type PendingOutboxDoc,
  type PendingScores,
  type ProcessedEventDoc,
} from './mongo-schemas.js';
import type { MigrationItem } from './migrate.js';
import { MongoWorkshops } from './mongo-workshops.js';
import type { WorkshopExport, WorkshopStore } from './workshops.js';
import { exportCertificate } from './store.js';
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
  AnswerTally,
  GroupAnswer,
  GroupCommit,
  GroupRecord,
  LearnerCommit,
  LearnerExport,
  LearnerRecord,
  DueLearner,
  InboxInsert,
  InboxRow,
  OutboxInsert,
  OutboxRow,
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

/** Owed messages as they ride inside another document's atomic write, each with its own token. */
function pendingOutbox(rows: OutboxInsert[] | undefined, now: Date): PendingOutboxDoc[] {
  return (rows ?? []).map((r) => ({ token: new Types.ObjectId().toHexString(), channel: r.channel, conversationId: r.conversationId, payload: r.payload, createdAt: now, ...(r.proactive ? { proactive: true } : {}) }));
}

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
      if (autoIndex) {
        await store.workshopDocs.createIndexes();
        await store.createInboxIndexes();
      }
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
    for (const r of c.certificates ?? []) await this.m.Certificate.replaceOne({ _id: r.id }, toCertificateDoc(r), { upsert: true });
    // Statements go in unconfirmed; they are confirmed once the learner's update below is in (or,
    // after a crash in between, by the sender's sweep, which checks the learner document).
    const xapiIds = (c.xapi ?? []).map((x) => x.id);
    for (const x of c.xapi ?? [])
      await this.m.XapiOutbox.updateOne(
        { _id: x.id },
        {
          $setOnInsert: { channel: x.learner.channel, userId: x.learner.userId, statement: x.statement, createdAt: x.createdAt, leaseUntil: new Date(0) },
          $set: { confirmed: false, learnerVersion: c.expectedVersion + 1, ...(c.eventId ? { eventKey: c.eventId } : {}) },
        },
        { upsert: true },
      );
    const filter = learnerFilter(c.key);
    // Activity rides in the learner document's own atomic update, then is moved to its collection.
    const activity = (c.activity ?? []).map((r) => toActivityDoc(new Types.ObjectId().toHexString(), toActivityRow(c.key.channel, c.key.userId, c.state, r)));
    // So do the messages it owes (the outbox): moved to their collection by the relay below.
    const owed = pendingOutbox(c.outbox, c.now);
    if (c.expectedVersion === 0) {
      try {
        await this.m.Learner.create({ ...newLearnerDoc(c), ...(activity.length ? { pendingActivity: activity } : {}), ...(owed.length ? { pendingOutbox: owed } : {}) });
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
          ...(c.eventId || activity.length || owed.length
            ? {
                $push: {
                  ...(c.eventId ? { recentEvents: { $each: [c.eventId], $slice: -this.recent } } : {}),
                  ...(activity.length ? { pendingActivity: { $each: activity } } : {}),
                  ...(owed.length ? { pendingOutbox: { $each: owed } } : {}),
                },
              }
            : {}),
        },
        { runValidators: true },
      );
      if (res.matchedCount === 0) return this.refused(await this.m.Learner.findOne(filter, { recentEvents: 1 }).lean(), c.eventId);
    }
    if (xapiIds.length) await this.m.XapiOutbox.updateMany({ _id: { $in: xapiIds } }, { $set: { confirmed: true } });
    if (c.eventId) await this.mark(c.key.channel, c.eventId, c.now);
    if (owed.length) await this.relay(this.m.Learner, filter);
    if (activity.length) await this.flushActivity(c.key);
    return 'committed';
  }

  /** How long an unconfirmed statement waits before the sweep decides whether its commit happened. */
  private static readonly XAPI_CONFIRM_AFTER_MS = 60_000;

  async resolveAccount(key: LearnerKey): Promise<LearnerKey> {
    const doc = await this.m.Account.findOne(learnerFilter(key)).lean();
    return doc ? { channel: doc.personChannel, userId: doc.personUserId } : key;
  }

  async linkedAccounts(person: LearnerKey): Promise<{ key: LearnerKey; address: Address }[]> {
    const docs = await this.m.Account.find({ personChannel: person.channel, personUserId: person.userId }).sort({ linkedAt: 1, channel: 1, userId: 1 }).lean();
    return docs.map((d) => ({ key: { channel: d.channel, userId: d.userId }, address: fromAddressDoc(d.address) }));
  }

  async saveLinkCode(code: string, person: LearnerKey, expiresAt: Date): Promise<void> {
    await this.m.LinkCode.deleteMany({ personChannel: person.channel, personUserId: person.userId });
    await this.m.LinkCode.replaceOne({ _id: code }, { personChannel: person.channel, personUserId: person.userId, expiresAt }, { upsert: true });
  }

  async takeLinkCode(code: string, now: Date): Promise<LearnerKey | null> {
    // Deleting returns the code to one taker only.
    const doc = await this.m.LinkCode.findOneAndDelete({ _id: code }).lean();
    return doc && new Date(doc.expiresAt) > now ? { channel: doc.personChannel, userId: doc.personUserId } : null;
  }

  /**
   * Not one transaction (a standalone server has none), ordered so that a crash loses nothing: the
   * person's merged state first (version-checked), then the joining record's deletion
   * (version-checked; if it changed meanwhile, the person keeps the merge and the account stays
   * separate: 'conflict'), then the links.
   */
  async linkAccounts(c: LinkCommit): Promise<'committed' | 'conflict'> {
    const { nudgeAt, ...rest } = learnerFields({ state: c.state, address: c.address, nudgeAt: c.nudgeAt, now: c.now });
    const res = await this.m.Learner.updateOne(
      { ...learnerFilter(c.primary), version: c.expectedVersion },
      { $set: { ...rest, ...(nudgeAt ? { nudgeAt } : {}) }, ...(nudgeAt ? {} : { $unset: { nudgeAt: 1 } }), $inc: { version: 1 } },
      { runValidators: true },
    );
    if (res.matchedCount === 0) return 'conflict';
    if (c.secondaryVersion > 0 && (await this.m.Learner.deleteOne({ ...learnerFilter(c.secondary), version: c.secondaryVersion })).deletedCount === 0) return 'conflict';
    const person = { personChannel: c.primary.channel, personUserId: c.primary.userId };
    await this.m.Account.updateMany({ personChannel: c.secondary.channel, personUserId: c.secondary.userId }, { $set: person });
    await this.m.Account.replaceOne(learnerFilter(c.secondary), { ...learnerFilter(c.secondary), ...person, address: toAddressDoc(c.secondaryAddress), linkedAt: c.now }, { upsert: true });
    return 'committed';
  }

  async unlinkAccount(account: LearnerKey, copy: UnlinkCopy): Promise<boolean> {
    // The copy first: a crash between leaves the account linked (and the copy unused), never without progress.
    const linked = await this.m.Account.exists(learnerFilter(account));
    if (!linked) return false;
    try {
      await this.m.Learner.create(newLearnerDoc({ key: account, expectedVersion: 0, state: copy.state, address: copy.address, nudgeAt: copy.nudgeAt, now: copy.now }));
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
    return (await this.m.Account.deleteOne(learnerFilter(account))).deletedCount === 1;
  }

  async claimXapi(now: Date, limit: number, leaseUntil: Date): Promise<XapiRow[]> {
    // Sweep: an unconfirmed row whose commit is in the learner document (its version reached, its
    // event among the recent ones) is confirmed; one whose commit was refused is deleted.
    const stale = await this.m.XapiOutbox.find({ confirmed: false, createdAt: { $lte: new Date(now.getTime() - MongoStore.XAPI_CONFIRM_AFTER_MS) } }).limit(limit).lean();
    for (const row of stale) {
      const learner = await this.m.Learner.findOne({ channel: row.channel, userId: row.userId }, { version: 1, recentEvents: 1 }).lean();
      const happened = !!learner && learner.version >= row.learnerVersion && (!row.eventKey || learner.recentEvents.includes(row.eventKey));
      if (happened) await this.m.XapiOutbox.updateOne({ _id: row._id }, { $set: { confirmed: true } });
      else await this.m.XapiOutbox.deleteOne({ _id: row._id, confirmed: false });
    }
    const due = await this.m.XapiOutbox.find({ confirmed: true, sentAt: { $exists: false }, leaseUntil: { $lte: now } }).sort({ createdAt: 1, _id: 1 }).limit(limit).lean();
    const claimed: XapiRow[] = [];
    for (const d of due) {
      // Compare-and-set on the lease read, so that two senders never both claim a row.
      const res = await this.m.XapiOutbox.updateOne({ _id: d._id, leaseUntil: d.leaseUntil, sentAt: { $exists: false } }, { $set: { leaseUntil } });
      if (res.modifiedCount === 1) claimed.push({ id: d._id, learner: { channel: d.channel, userId: d.userId }, statement: d.statement, createdAt: new Date(d.createdAt) });
    }
    return claimed;
  }

  async markXapiSent(ids: string[], at: Date): Promise<void> {
    if (ids.length) await this.m.XapiOutbox.updateMany({ _id: { $in: ids }, sentAt: { $exists: false } }, { $set: { sentAt: at } });
  }

  async xapiPending(): Promise<number> {
    return this.m.XapiOutbox.countDocuments({ sentAt: { $exists: false }, confirmed: true });
  }

  async pruneXapi(before: Date): Promise<number> {
    return (await this.m.XapiOutbox.deleteMany({ sentAt: { $lt: before } })).deletedCount;
  }

  /**
   * Moves a learner's pending activity records into the activity collection: inserted by id (a
   * second try finds them there and changes nothing), then pulled from the learner document. Also
   * finishes a move a crashed process left half done.
   */
  private async flushActivity(key: LearnerKey): Promise<void> {
    const doc = await this.m.Learner.findOne(learnerFilter(key), { pendingActivity: 1 }).lean();
    const pending = doc?.pendingActivity ?? [];
    if (!pending.length) return;
    try {
      await this.m.Activity.insertMany(pending, { ordered: false });
    } catch (err) {
      const errors = err instanceof MongoBulkWriteError ? (Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors]) : [];
      if (!errors.length || !errors.every((e) => e.code === DUPLICATE_KEY)) throw err;
    }
    await this.m.Learner.updateOne(learnerFilter(key), { $pull: { pendingActivity: { _id: { $in: pending.map((p) => p._id) } } } });
  }

  /** Why a conditional write matched nothing: the event was applied already, or the version moved. */
  private refused(doc: { recentEvents?: string[] } | null, eventId: string | undefined): CommitResult {
    return eventId && doc?.recentEvents?.includes(eventId) ? 'duplicate' : 'conflict';
  }

  async isProcessed(channel: Channel, eventId: string): Promise<boolean> {
    return this.processed(channel, this.eventKey(eventId));
  }

  async markProcessed(channel: Channel, eventId: string, now: Date, outbox?: OutboxInsert[]): Promise<boolean> {
    // The owed reply rides in the processed mark's own insert, then is relayed to the outbox.
    const eventKey = this.eventKey(eventId);
    const owed = pendingOutbox(outbox, now);
    const added = await this.mark(channel, eventKey, now, owed);
    if (added && owed.length) await this.relay(this.m.ProcessedEvent, { channel, eventId: eventKey });
    return added;
  }

  /** {@link isProcessed} for an id already hashed. */
  private async processed(channel: Channel, eventId: string): Promise<boolean> {
    return (await this.m.ProcessedEvent.exists({ channel, eventId })) !== null;
  }

  /** {@link markProcessed} for an id already hashed. */
  private async mark(channel: Channel, eventId: string, now: Date, owed: PendingOutboxDoc[] = []): Promise<boolean> {
    try {
      const res = await this.m.ProcessedEvent.updateOne({ channel, eventId }, { $setOnInsert: { at: now, ...(owed.length ? { pendingOutbox: owed } : {}) } }, { upsert: true });
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
    // Owed replies to the learner's own conversation and events not yet applied go too (the reply
    // to /forget itself is written after this).
    const own = await this.m.Learner.findOne(learnerFilter(key), { address: 1 }).lean();
    const conversationId = (own?.address as { conversationId?: string } | undefined)?.conversationId;
    if (conversationId) await this.col('outbox').deleteMany({ channel: key.channel, conversationId });
    await this.col('inbox').deleteMany({ lane: `learner:${key.channel}:${key.userId}` });
    await this.col('inboxLanes').deleteOne({ _id: `learner:${key.channel}:${key.userId}` as never });
    await this.m.Activity.deleteMany(learnerFilter(key));
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
    await this.m.Certificate.updateMany(learnerFilter(key), { $unset: { channel: 1, userId: 1, name: 1, jwt: 1 } });
    await this.m.XapiOutbox.deleteMany(learnerFilter(key));
    await this.m.Account.deleteMany({ $or: [learnerFilter(key), { personChannel: key.channel, personUserId: key.userId }] });
    await this.m.LinkCode.deleteMany({ personChannel: key.channel, personUserId: key.userId });
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

  async getCertificate(id: string): Promise<CertificateRecord | null> {
    const doc = await this.m.Certificate.findById(id).lean();
    return doc ? toCertificateRecord(doc as CertificateDoc) : null;
  }

  async revokeCertificate(id: string, at: Date): Promise<boolean> {
    const res = await this.m.Certificate.updateOne({ _id: id, revokedAt: { $exists: false } }, { $set: { revokedAt: at } });
    return res.modifiedCount === 1;
  }

  /** A learner's workshops for /mydata, only when they joined any. */
  private async workshopsOf(key: LearnerKey): Promise<{ workshops?: WorkshopExport }> {
    const w = await this.workshopDocs.exportWorkshopParticipant(key);
    return w.workshops.length || w.answers.length ? { workshops: w } : {};
  }

  async exportLearner(key: LearnerKey): Promise<LearnerExport> {
    const [doc, answers, scores, conversations, activity, certificates] = await Promise.all([
      this.m.Learner.findOne(learnerFilter(key)).lean(),
      this.m.GroupAnswer.find(learnerFilter(key)).sort({ at: 1 }).lean(),
      this.m.GroupScore.find(learnerFilter(key)).lean(),
      this.groupsWithMember(key),
      this.m.Activity.find(learnerFilter(key)).sort({ at: 1, _id: 1 }).lean(),
      this.m.Certificate.find(learnerFilter(key)).sort({ issuedAt: 1, _id: 1 }).lean(),
    ]);
    const runningQuizzes: LearnerExport['runningQuizzes'] = [];
    for (const conversationId of conversations) {
      const group = await this.m.Group.findOne(groupFilter({ channel: key.channel, conversationId })).lean();
      const member = group && groupMemberData(toGroupRecord(group).state, key.userId);
      if (member) runningQuizzes.push({ conversationId, ...member });
    }
    const learner = doc ? toLearnerRecord(doc) : null;
    // Records not moved yet (a crashed process) are the learner's too.
    const moved = new Set(activity.map((a) => a._id));
    const all = [...activity, ...(doc?.pendingActivity ?? []).filter((a) => !moved.has(a._id))].sort((a, b) => new Date(a.at).getTime() - new Date(b.at).getTime());
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
      activity: all.map((a) => fromActivityRow(fromActivityDoc(a))),
      certificates: certificates.map((d) => exportCertificate(toCertificateRecord(d as CertificateDoc))),
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
    // The posts it owes ride in the group document's own atomic update, then are relayed to the outbox.
    const owed = pendingOutbox(c.outbox, c.now);
    if (c.expectedVersion === 0) {
      try {
        await this.m.Group.create({ ...newGroupDoc(c, pending), ...(owed.length ? { pendingOutbox: owed } : {}) });
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
        ...(c.eventId || owed.length
          ? {
              $push: {
                ...(c.eventId ? { recentEvents: { $each: [c.eventId], $slice: -this.recent } } : {}),
                ...(owed.length ? { pendingOutbox: { $each: owed } } : {}),
              },
            }
          : {}),
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
    if (owed.length) await this.relay(this.m.Group, filter);
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
    const owed = pendingOutbox(a.outbox, a.at);
    try {
      // The owed notice rides in the answer's own insert, then is relayed to the outbox.
      await this.m.GroupAnswer.create({ ...toAnswerDoc(a), ...(owed.length ? { pendingOutbox: owed } : {}) });
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
    if (owed.length) await this.relay(this.m.GroupAnswer, { channel: a.key.channel, conversationId: a.key.conversationId, quizId: a.quizId, question: a.question, userId: a.userId });
    return 'recorded';
  }

  async groupAnswerTally(key: ConversationKey, quizId: string, question: number, userId: string): Promise<AnswerTally> {
    const filter = { ...groupFilter(key), quizId, question };
    const [count, mine] = await Promise.all([this.m.GroupAnswer.countDocuments(filter), this.m.GroupAnswer.exists({ ...filter, userId })]);
    return { count, mine: mine !== null };
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

  // ---- the durable inbox and outbox ----
  // Plain collections (no mongoose schema): `inbox` unique on {channel, eventId}, `inboxLanes` (lane
  // claims), `outbox` ordered by a counter and unique on each row's token. An owed message is written
  // inside the same atomic write as the change that produced it (as `pendingOutbox` of the learner or
  // group document, the answer, or the processed mark), then relayed to `outbox`: right after the
  // write by the process that made it, or by any process's next outbox read if that one died first.

  private col(name: 'inbox' | 'inboxLanes' | 'outbox' | 'counters') {
    const db = this.conn.db;
    if (!db) throw new Error('the MongoDB connection is not open');
    return db.collection(name);
  }

  private async nextSeq(name: string, n: number): Promise<number> {
    const doc = await this.col('counters').findOneAndUpdate({ _id: name as never }, { $inc: { seq: n } }, { upsert: true, returnDocument: 'after' });
    return (doc?.seq as number) - n + 1;
  }

  /** The inbox's unique key (an event accepted twice is stored once), made at connect with the other indexes. */
  private async createInboxIndexes(): Promise<void> {
    await this.col('inbox').createIndex({ channel: 1, eventId: 1 }, { unique: true, name: 'inbox_key' });
  }

  async inboxAdd(item: InboxInsert): Promise<boolean> {
    const inbox = this.col('inbox');
    const seq = await this.nextSeq('inbox', 1);
    try {
      await inbox.insertOne({ seq, ...item, eventId: this.eventKey(item.eventId), availableAt: item.receivedAt, attempts: 0, appliedAt: null });
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  async inboxPending(now: Date, limit: number): Promise<InboxRow[]> {
    const docs = await this.col('inbox').find({ appliedAt: null, receivedAt: { $lte: now } }).sort({ seq: 1 }).limit(limit).toArray();
    return docs.map((d) => ({ seq: d.seq, channel: d.channel, eventId: d.eventId, lane: d.lane, payload: d.payload, receivedAt: d.receivedAt, availableAt: d.availableAt, attempts: d.attempts }));
  }

  async inboxApplied(seq: number, _now: Date): Promise<void> {
    // Deleted at once: it holds the message; a redelivery is recognised by the processed-event id.
    await this.col('inbox').deleteOne({ seq });
  }

  async inboxRetry(seq: number, at: Date): Promise<void> {
    await this.col('inbox').updateOne({ seq }, { $set: { availableAt: at }, $inc: { attempts: 1 } });
  }

  async inboxClaimLane(lane: string, owner: string, now: Date, until: Date): Promise<boolean> {
    // One conditional upsert: matches a free-by-time or own claim; when another owner holds the lane,
    // the upsert collides with its _id and nothing changes.
    try {
      await this.col('inboxLanes').updateOne({ _id: lane as never, $or: [{ owner }, { until: { $lte: now } }] }, { $set: { owner, until } }, { upsert: true });
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  async inboxReleaseLane(lane: string, owner: string): Promise<void> {
    await this.col('inboxLanes').deleteOne({ _id: lane as never, owner });
  }

  async outboxAdd(rows: OutboxInsert[], now: Date): Promise<void> {
    for (const row of pendingOutbox(rows, now)) await this.moveToOutbox(row);
  }

  private outboxIndexes: Promise<unknown> | undefined;

  /**
   * Puts one owed message in the `outbox` collection once, by its token: a relay that runs twice
   * (two processes, or again after a crash before the pending copy was removed) changes nothing,
   * and a row already sent stays sent (sent rows are kept, emptied, as tombstones for a day).
   */
  private async moveToOutbox(p: PendingOutboxDoc): Promise<void> {
    this.outboxIndexes ??= Promise.all([
      this.col('outbox').createIndex({ token: 1 }, { unique: true, name: 'outbox_token' }),
      this.col('outbox').createIndex({ id: 1 }, { unique: true, name: 'outbox_id' }),
      // The lanes outboxDue reads (unsent rows only: sent ones are emptied tombstones).
      this.col('outbox').createIndex({ channel: 1, proactive: 1, id: 1 }, { name: 'outbox_lane', partialFilterExpression: { doneAt: null } }),
    ]);
    await this.outboxIndexes;
    if (await this.col('outbox').findOne({ token: p.token }, { projection: { _id: 1 } })) return;
    const id = await this.nextSeq('outbox', 1);
    try {
      await this.col('outbox').updateOne(
        { token: p.token },
        {
          $setOnInsert: { id, token: p.token, channel: p.channel, conversationId: p.conversationId, payload: p.payload, createdAt: p.createdAt, availableAt: p.createdAt, attempts: 0, doneAt: null, proactive: p.proactive === true },
        },
        { upsert: true },
      );
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
    }
  }

  /**
   * The relay: moves the owed messages a document carries (written in its own atomic update) into
   * the outbox, in order, then removes them from the document. Any process may run it for any document.
   */
  private async relay<D extends { pendingOutbox?: PendingOutboxDoc[] }>(model: mongoose.Model<D>, filter: Record<string, unknown>): Promise<void> {
    const doc = (await model.findOne(filter as never, { pendingOutbox: 1 }).lean()) as { _id: unknown; pendingOutbox?: PendingOutboxDoc[] } | null;
    const pending = doc?.pendingOutbox ?? [];
    if (!doc || !pending.length) return;
    for (const p of pending) await this.moveToOutbox(p);
    await model.updateOne({ _id: doc._id } as never, { $pull: { pendingOutbox: { token: { $in: pending.map((p) => p.token) } } } } as never);
  }

  /** Relays what a process that died between its write and its relay left in documents. */
  private async relayLeftovers(limit: number): Promise<void> {
    const models = [this.m.Learner, this.m.Group, this.m.GroupAnswer, this.m.ProcessedEvent] as unknown as mongoose.Model<{ pendingOutbox?: PendingOutboxDoc[] }>[];
    for (const model of models) {
      const docs = await model.find({ 'pendingOutbox.token': { $exists: true } }, { _id: 1 }).limit(limit).lean();
      for (const d of docs) await this.relay(model, { _id: d._id });
    }
  }

  async outboxDue(now: Date, limit: number, proactiveLimit = limit): Promise<OutboxRow[]> {
    await this.relayLeftovers(limit);
    // One read per lane (a channel's replies, its proactive rows; rows from before lanes count as replies).
    const lanes = CHANNELS.flatMap((channel) => [false, true].map((proactive) => ({ filter: { channel, proactive: proactive ? true : { $ne: true } }, max: proactive ? proactiveLimit : limit })));
    const docs = (await Promise.all(lanes.map(({ filter, max }) => this.col('outbox').find({ doneAt: null, createdAt: { $lte: now }, ...filter }).sort({ id: 1 }).limit(max).toArray()))).flat();
    return docs
      .sort((a, b) => a.id - b.id)
      .map((d) => ({ id: d.id, channel: d.channel, conversationId: d.conversationId, payload: d.payload, createdAt: d.createdAt, availableAt: d.availableAt, attempts: d.attempts, ...(d.proactive === true ? { proactive: true } : {}) }));
  }

  async outboxClaim(row: OutboxRow, until: Date): Promise<boolean> {
    const res = await this.col('outbox').updateOne({ id: row.id, doneAt: null, availableAt: row.availableAt }, { $set: { availableAt: until } });
    return res.modifiedCount === 1;
  }

  async outboxDone(id: number, now: Date): Promise<void> {
    // Kept as an emptied tombstone (its token only) as long as processed event ids, so that a late relay of the same row finds it sent.
    await this.col('outbox').updateOne({ id }, { $set: { doneAt: now, channel: null, conversationId: null }, $unset: { payload: 1 } });
  }

  async outboxRetry(id: number, at: Date): Promise<void> {
    await this.col('outbox').updateOne({ id }, { $set: { availableAt: at }, $inc: { attempts: 1 } });
  }

  async pruneProcessed(before: Date): Promise<number> {
    const res = await this.m.ProcessedEvent.deleteMany({ at: { $lt: before } });
    await this.col('outbox').deleteMany({ doneAt: { $ne: null, $lt: before } });
    return res.deletedCount;
  }

  // ---- Dashboard reads ----

  async learnerCounts(f: DashboardFilter): Promise<LearnerCountRow[]> {
    const rows = await this.m.Learner.aggregate<{ _id: { channel: Channel; lang: string; country: string | null; org: string | null }; learners: number }>([
      { $match: learnerMatch(f) },
      { $group: { _id: { channel: '$channel', lang: '$state.lang', country: { $ifNull: ['$state.country', null] }, org: { $ifNull: ['$state.org', null] } }, learners: { $sum: 1 } } },
    ]);
    return rows.map((r) => ({ ...r._id, learners: r.learners }));
  }

  async activityByPeriod(f: DashboardFilter, period: 'day' | 'week'): Promise<PeriodRow[]> {
    const day = { $floor: { $divide: [{ $toLong: '$at' }, DAY_MS] } };
    // Epoch day 0 was a Thursday: a day's Monday is day - (day + 3) % 7.
    const p = period === 'day' ? day : { $subtract: [day, { $mod: [{ $add: [day, 3] }, 7] }] };
    const rows = await this.m.Activity.aggregate<{ _id: number; learners: number; lessonsCompleted: number; answers: number }>(
      [
        { $match: { ...activityMatch(f), $or: [{ type: { $ne: 'nudge' } }, { event: { $nin: ['sent', 'unreachable'] } }] } },
        {
          $group: {
            _id: { p, channel: '$channel', userId: '$userId' },
            lc: { $sum: { $cond: [{ $eq: ['$type', 'lesson_completed'] }, 1, 0] } },
            ans: { $sum: { $cond: [{ $eq: ['$type', 'item_answered'] }, 1, 0] } },
          },
        },
        { $group: { _id: '$_id.p', learners: { $sum: 1 }, lessonsCompleted: { $sum: '$lc' }, answers: { $sum: '$ans' } } },
        { $sort: { _id: 1 } },
      ],
      { allowDiskUse: true },
    );
    return rows.map((r) => ({ period: dayString(r._id), learners: r.learners, lessonsCompleted: r.lessonsCompleted, answers: r.answers }));
  }

  async lessonFunnel(f: DashboardFilter): Promise<{ lessons: LessonFunnelRow[]; durations: DurationBucketRow[] }> {
    const firstCompletion = { $and: [{ $eq: ['$type', 'lesson_completed'] }, { $eq: ['$first', true] }] };
    const [lessons, durations] = await Promise.all([
      this.m.Activity.aggregate<{ _id: string; started: number; completed: number; firstScoreSum: number; firstScoreTotal: number }>([
        { $match: { ...activityMatch(f), type: { $in: ['lesson_started', 'lesson_completed'] } } },
        {
          $group: {
            _id: '$lessonId',
            started: { $sum: { $cond: [{ $eq: ['$type', 'lesson_started'] }, 1, 0] } },
            completed: { $sum: { $cond: [firstCompletion, 1, 0] } },
            firstScoreSum: { $sum: { $cond: [firstCompletion, '$score', 0] } },
            firstScoreTotal: { $sum: { $cond: [firstCompletion, '$total', 0] } },
          },
        },
      ]),
      this.m.Activity.aggregate<{ _id: { lessonId: string; minutes: number }; count: number }>([
        { $match: { ...activityMatch(f), type: 'lesson_completed', first: true, durationMs: { $ne: null } } },
        { $project: { lessonId: 1, m: { $floor: { $divide: ['$durationMs', 60_000] } } } },
        {
          $project: {
            lessonId: 1,
            minutes: {
              $switch: {
                branches: [
                  { case: { $lt: ['$m', 120] }, then: '$m' },
                  { case: { $lt: ['$m', 4320] }, then: { $multiply: [{ $floor: { $divide: ['$m', 60] } }, 60] } },
                ],
                default: { $multiply: [{ $floor: { $divide: ['$m', 1440] } }, 1440] },
              },
            },
          },
        },
        { $group: { _id: { lessonId: '$lessonId', minutes: '$minutes' }, count: { $sum: 1 } } },
      ]),
    ]);
    return {
      lessons: lessons.map((r) => ({ lessonId: r._id, started: r.started, completed: r.completed, firstScoreSum: r.firstScoreSum, firstScoreTotal: r.firstScoreTotal })),
      durations: durations.map((r) => ({ lessonId: r._id.lessonId, minutes: r._id.minutes, count: r.count })),
    };
  }

  async stopPoints(f: DashboardFilter, silentSince: Date): Promise<StopPointRow[]> {
    const match = learnerMatch(f);
    const rows = await this.m.Learner.aggregate<{ _id: Omit<StopPointRow, 'learners'>; learners: number }>([
      { $match: { ...match, 'state.lastSeenAt': { $gte: f.from.toISOString(), $lt: silentSince.toISOString() } } },
      {
        $group: {
          _id: {
            kind: '$state.position.kind',
            lessonId: { $ifNull: ['$state.position.lessonId', null] },
            card: { $cond: [{ $eq: ['$state.position.kind', 'card'] }, '$state.position.index', null] },
            itemId: { $cond: [{ $eq: ['$state.position.kind', 'quiz'] }, { $arrayElemAt: ['$state.position.itemIds', '$state.position.index'] }, null] },
          },
          learners: { $sum: 1 },
        },
      },
    ]);
    return rows.map((r) => ({ ...r._id, learners: r.learners }));
  }

  async itemStats(f: DashboardFilter): Promise<{ items: ItemStatRow[]; options: ItemOptionRow[] }> {
    const m = activityMatch(f);
    const [counts, sums, options] = await Promise.all([
      this.m.Activity.aggregate<{ _id: string; lessonId: string; attempts: number; firstTries: number; firstTryCorrect: number }>([
        { $match: { ...m, type: 'item_answered' } },
        {
          $group: {
            _id: '$itemId',
            lessonId: { $min: '$lessonId' },
            attempts: { $sum: 1 },
            firstTries: { $sum: { $cond: ['$first', 1, 0] } },
            firstTryCorrect: { $sum: { $cond: [{ $and: ['$first', '$correct'] }, 1, 0] } },
          },
        },
      ]),
      // Point-biserial sums: x = this first answer right, y = the learner's share right of their other first answers.
      this.m.Activity.aggregate<{ _id: string; n: number; sx: number; sy: number; sxy: number; syy: number }>(
        [
          { $match: { ...m, type: 'item_answered', first: true } },
          { $project: { channel: 1, userId: 1, itemId: 1, x: { $cond: ['$correct', 1, 0] } } },
          { $group: { _id: { channel: '$channel', userId: '$userId' }, answers: { $push: { item: '$itemId', x: '$x' } }, r: { $sum: '$x' }, k: { $sum: 1 } } },
          { $match: { k: { $gte: 2 } } },
          { $unwind: '$answers' },
          { $project: { item: '$answers.item', x: '$answers.x', y: { $divide: [{ $subtract: ['$r', '$answers.x'] }, { $subtract: ['$k', 1] }] } } },
          { $group: { _id: '$item', n: { $sum: 1 }, sx: { $sum: '$x' }, sy: { $sum: '$y' }, sxy: { $sum: { $multiply: ['$x', '$y'] } }, syy: { $sum: { $multiply: ['$y', '$y'] } } } },
        ],
        { allowDiskUse: true },
      ),
      this.m.Activity.aggregate<{ _id: { itemId: string; options: string }; count: number }>([
        { $match: { ...m, type: 'item_answered', first: true } },
        { $group: { _id: { itemId: '$itemId', options: '$options' }, count: { $sum: 1 } } },
      ]),
    ]);
    const byItem = new Map(sums.map((r) => [r._id, r]));
    return {
      items: counts.map((c) => {
        const s = byItem.get(c._id);
        return { itemId: c._id, lessonId: c.lessonId, attempts: c.attempts, firstTries: c.firstTries, firstTryCorrect: c.firstTryCorrect, n: s?.n ?? 0, sx: s?.sx ?? 0, sy: s?.sy ?? 0, sxy: s?.sxy ?? 0, syy: s?.syy ?? 0 };
      }),
      options: options.map((o) => ({ itemId: o._id.itemId, options: o._id.options, count: o.count })),
    };
  }

  async recallLog(f: DashboardFilter): Promise<RecallRow[]> {
    const rows = await this.m.Activity.aggregate<{ _id: { days: number; predicted: number }; n: number; right: number }>([
      { $match: { ...activityMatch(f), type: 'item_answered', predicted: { $ne: null } } },
      { $group: { _id: { days: { $floor: '$daysSince' }, predicted: { $round: ['$predicted', 2] } }, n: { $sum: 1 }, right: { $sum: { $cond: ['$correct', 1, 0] } } } },
      { $sort: { '_id.days': 1, '_id.predicted': 1 } },
    ]);
    return rows.map((r) => ({ days: r._id.days, predicted: r._id.predicted, n: r.n, right: r.right }));
  }

  async nudgeStats(f: DashboardFilter): Promise<NudgeRow[]> {
    const rows = await this.m.Activity.aggregate<{ _id: { event: NudgeRow['event']; localHour: number }; count: number }>([
      { $match: { ...activityMatch(f), type: 'nudge' } },
      { $group: { _id: { event: '$event', localHour: '$localHour' }, count: { $sum: 1 } } },
      { $sort: { '_id.localHour': 1 } },
    ]);
    return rows.map((r) => ({ event: r._id.event, localHour: r._id.localHour, count: r.count }));
  }

  async teamQuizzes(f: DashboardFilter): Promise<TeamQuizRow[]> {
    const rows = await this.m.GroupAnswer.aggregate<{ _id: { channel: Channel; d: number }; quizzes: number; players: number; answers: number }>([
      { $match: { at: { $gte: f.from, $lt: f.to }, ...(f.channel ? { channel: f.channel } : {}) } },
      { $group: { _id: { channel: '$channel', conversationId: '$conversationId', quizId: '$quizId' }, first: { $min: '$at' }, players: { $addToSet: '$userId' }, answers: { $sum: 1 } } },
      { $project: { channel: '$_id.channel', d: { $floor: { $divide: [{ $toLong: '$first' }, DAY_MS] } }, players: { $size: '$players' }, answers: 1 } },
      { $group: { _id: { channel: '$channel', d: '$d' }, quizzes: { $sum: 1 }, players: { $sum: '$players' }, answers: { $sum: '$answers' } } },
      { $sort: { '_id.d': 1, '_id.channel': 1 } },
    ]);
    return rows.map((r) => ({ channel: r._id.channel, day: dayString(r._id.d), quizzes: r.quizzes, players: r.players, answers: r.answers }));
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
    const certificates: CertificateDoc[] = [];
    const activity: ActivityDoc[] = [];
    for (const item of items) {
      if (item.kind === 'learner') learners.push(item.doc);
      else if (item.kind === 'group') groups.push(item.doc);
      else if (item.kind === 'processed') processed.push(item.doc);
      else if (item.kind === 'answer') answers.push(item.doc);
      else if (item.kind === 'certificate') certificates.push(item.doc);
      else if (item.kind === 'activity') activity.push(item.doc);
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
    if (certificates.length)
      await run(() => this.m.Certificate.bulkWrite(certificates.map((doc) => ({ replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } })), opts));
    if (activity.length)
      await run(() => this.m.Activity.bulkWrite(activity.map((doc) => ({ replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } })), opts));
    return { written: items.length - keptNewer, keptNewer };
  }

  /** Drops this store's database (tests only). */
  async dropDatabase(): Promise<void> {
    await this.conn.dropDatabase();
  }
}

const DAY_MS = 86_400_000;
const dayString = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);

/** A dashboard filter on the activity collection. */
function activityMatch(f: DashboardFilter): Record<string, unknown> {
  return {
    at: { $gte: f.from, $lt: f.to },
    ...(f.channel ? { channel: f.channel } : {}),
    ...(f.lang ? { lang: f.lang } : {}),
    ...(f.country ? { country: f.country } : {}),
    ...(f.org ? { org: f.org } : {}),
  };
}

/** A dashboard filter on learners: seen in the period, with these dimensions. */
function learnerMatch(f: DashboardFilter): Record<string, unknown> {
  return {
    'state.lastSeenAt': { $gte: f.from.toISOString() },
    'state.createdAt': { $lt: f.to.toISOString() },
    ...(f.channel ? { channel: f.channel } : {}),
    ...(f.lang ? { 'state.lang': f.lang } : {}),
    ...(f.country ? { 'state.country': f.country } : {}),
    ...(f.org ? { 'state.org': f.org } : {}),
  };
}

function fromActivityDoc(d: ActivityDoc): Omit<ActivityRow, 'channel' | 'userId' | 'lang' | 'country' | 'org'> {
  return {
    at: new Date(d.at),
    type: d.type,
    lessonId: d.lessonId ?? null,
    itemId: d.itemId ?? null,
    mode: (d.mode as ActivityRow['mode']) ?? null,
    options: d.options ?? null,
    correct: d.correct ?? null,
    first: d.first ?? null,
    durationMs: d.durationMs ?? null,
    predicted: d.predicted ?? null,
    daysSince: d.daysSince ?? null,
    score: d.score ?? null,
    total: d.total ?? null,
    event: (d.event as ActivityRow['event']) ?? null,
    localHour: d.localHour ?? null,
  };
}
