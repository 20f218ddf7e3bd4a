/**
 * The MongoDB store's schemas, indexes and the mapping between documents and the store contract's
 * types. Pure: nothing here talks to a server, so that validation, index definitions and the
 * mapping are tested without one (test/mongo-schemas.test.ts).
 *
 * Learner and group states are kept as nested documents (readable in the mongo shell), not as JSON
 * strings. Their keys are ids chosen by course authors and platforms (lesson and item ids, member
 * ids), and MongoDB gives `.` and a leading `$` special meaning in field names, so keys are escaped
 * on the way in (`%` -> `%25`, `.` -> `%2E`, `$` -> `%24`) and unescaped on the way out. Values that
 * are `undefined` are dropped, as JSON would (the driver would store them as null otherwise).
 *
 * @example
 * const models = defineModels(mongoose.createConnection(uri), { processedTtlSeconds: 86_400 });
 * await models.Learner.create(newLearnerDoc(commit));
 */
import { Schema, type Connection, type Model } from 'mongoose';
import type { Address, Channel, LearnerKey } from '../messages.js';
import type { LearnerState } from '../engine/state.js';
import type { GroupState } from '../engine/group.js';
import type { AnswerInsert, ConversationKey, GroupAnswer, GroupCommit, GroupRecord, LearnerCommit, LearnerRecord, ScoreRow } from './store.js';

export const CHANNELS = ['console', 'telegram', 'slack', 'teams'] as const satisfies readonly Channel[];

/** A JSON-like value as stored: plain objects with escaped keys, arrays and primitives. */
export type StoredJson = string | number | boolean | null | StoredJson[] | { [key: string]: StoredJson };

export interface AddressDoc {
  channel: Channel;
  conversationId: string;
  kind: 'direct' | 'group';
  ref?: Record<string, unknown>;
}

export interface LearnerDoc {
  channel: Channel;
  userId: string;
  version: number;
  state: Record<string, unknown>;
  address: AddressDoc;
  updatedAt: Date;
  /** Absent when no nudge is planned, so that the partial index holds only planned nudges. */
  nudgeAt?: Date;
  /** The last few event ids applied to this learner, written in the same atomic update as the state. */
  recentEvents: string[];
}

export interface ProcessedEventDoc {
  channel: Channel;
  eventId: string;
  at: Date;
}

/** Score increments written with a group commit and not yet added to the score rows. */
export interface PendingScores {
  token: string;
  rows: ScoreRow[];
}

export interface GroupDoc {
  channel: Channel;
  conversationId: string;
  version: number;
  state: Record<string, unknown>;
  address: AddressDoc;
  /** Absent when no question is open. */
  closesAt?: Date;
  /** When the weekly team quiz next starts; absent when none is scheduled. */
  nextQuizAt?: Date;
  recentEvents: string[];
  pendingScores?: PendingScores | null;
}

export interface GroupAnswerDoc {
  channel: Channel;
  conversationId: string;
  quizId: string;
  question: number;
  userId: string;
  displayName: string;
  option: number;
  at: Date;
  /** The event that recorded this answer: tells a redelivery ('duplicate') from a second answer. */
  eventId: string;
}

export interface GroupScoreDoc {
  channel: Channel;
  conversationId: string;
  userId: string;
  displayName: string;
  points: number;
  answered: number;
  correct: number;
  /** Tokens of the pending-score batches already added here (the last few), so adding is idempotent. */
  applied: string[];
}

export interface MongoSchemaOptions {
  /** How long processed event ids are kept (TTL index on `at`). Default 7 days. */
  processedTtlSeconds: number;
}

export const DEFAULT_MONGO_SCHEMA_OPTIONS: MongoSchemaOptions = { processedTtlSeconds: 7 * 24 * 3600 };

/** Collection names. */
export const COLLECTIONS = {
  learners: 'learners',
  processedEvents: 'processed_events',
  groups: 'groups',
  groupAnswers: 'group_answers',
  groupScores: 'group_scores',
} as const;

const WRITE_CONCERN = { w: 'majority' as const };
/** Shared schema options: our own `version` field, not mongoose's `__v`; empty objects kept (`lessons: {}`). */
const BASE = { versionKey: false, minimize: false, strict: 'throw', writeConcern: WRITE_CONCERN } as const;

const channel = { type: String, enum: CHANNELS, required: true };
const id = { type: String, required: true, minlength: 1 };
const count = { type: Number, required: true, min: 0, validate: { validator: Number.isInteger, message: '{PATH} must be a whole number' } };
const version = { ...count, min: 1 };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

const stateField = {
  type: Schema.Types.Mixed,
  required: true,
  validate: { validator: (v: unknown) => isPlainObject(v) && v.schema === 1, message: '{PATH} must be an object with schema 1' },
};

const addressSchema = new Schema<AddressDoc>(
  {
    channel,
    conversationId: id,
    kind: { type: String, enum: ['direct', 'group'], required: true },
    ref: { type: Schema.Types.Mixed, validate: { validator: (v: unknown) => v === undefined || isPlainObject(v), message: '{PATH} must be an object' } },
  },
  { _id: false, ...BASE },
);

/** A member's name as shown in the group; empty for a member who erased their data (a former participant). */
const memberName = { type: String, default: '' };

const scoreRowSchema = new Schema<ScoreRow>(
  { userId: id, displayName: memberName, points: count, answered: count, correct: count },
  { _id: false, ...BASE },
);

/** The schemas, with their indexes. */
export function buildSchemas(opts: MongoSchemaOptions = DEFAULT_MONGO_SCHEMA_OPTIONS) {
  const learner = new Schema<LearnerDoc>(
    {
      channel,
      userId: id,
      version,
      state: stateField,
      address: { type: addressSchema, required: true },
      updatedAt: { type: Date, required: true },
      nudgeAt: { type: Date },
      recentEvents: { type: [String], default: [] },
    },
    { ...BASE, collection: COLLECTIONS.learners },
  );
  learner.index({ channel: 1, userId: 1 }, { unique: true, name: 'learner_key' });
  learner.index({ nudgeAt: 1 }, { partialFilterExpression: { nudgeAt: { $exists: true } }, name: 'learner_nudge_at' });

  const processed = new Schema<ProcessedEventDoc>(
    { channel, eventId: id, at: { type: Date, required: true } },
    { ...BASE, collection: COLLECTIONS.processedEvents },
  );
  processed.index({ channel: 1, eventId: 1 }, { unique: true, name: 'processed_key' });
  processed.index({ at: 1 }, { expireAfterSeconds: opts.processedTtlSeconds, name: 'processed_ttl' });

  const group = new Schema<GroupDoc>(
    {
      channel,
      conversationId: id,
      version,
      state: stateField,
      address: { type: addressSchema, required: true },
      closesAt: { type: Date },
      nextQuizAt: { type: Date },
      recentEvents: { type: [String], default: [] },
      pendingScores: {
        type: new Schema<PendingScores>({ token: id, rows: { type: [scoreRowSchema], required: true } }, { _id: false, ...BASE }),
        default: undefined,
      },
    },
    { ...BASE, collection: COLLECTIONS.groups },
  );
  group.index({ channel: 1, conversationId: 1 }, { unique: true, name: 'group_key' });
  group.index({ closesAt: 1 }, { partialFilterExpression: { closesAt: { $exists: true } }, name: 'group_closes_at' });
  group.index({ nextQuizAt: 1 }, { partialFilterExpression: { nextQuizAt: { $exists: true } }, name: 'group_next_quiz_at' });

  const answer = new Schema<GroupAnswerDoc>(
    {
      channel,
      conversationId: id,
      quizId: id,
      question: count,
      userId: id,
      displayName: memberName,
      option: count,
      at: { type: Date, required: true },
      eventId: id,
    },
    { ...BASE, collection: COLLECTIONS.groupAnswers },
  );
  answer.index({ channel: 1, conversationId: 1, quizId: 1, question: 1, userId: 1 }, { unique: true, name: 'answer_key' });
  answer.index({ channel: 1, userId: 1 }, { name: 'answer_user' });

  const score = new Schema<GroupScoreDoc>(
    {
      channel,
      conversationId: id,
      userId: id,
      displayName: memberName,
      points: count,
      answered: count,
      correct: count,
      applied: { type: [String], default: [] },
    },
    { ...BASE, collection: COLLECTIONS.groupScores },
  );
  score.index({ channel: 1, conversationId: 1, userId: 1 }, { unique: true, name: 'score_key' });
  score.index({ channel: 1, userId: 1 }, { name: 'score_user' });

  return { learner, processed, group, answer, score };
}

export interface MongoModels {
  Learner: Model<LearnerDoc>;
  ProcessedEvent: Model<ProcessedEventDoc>;
  Group: Model<GroupDoc>;
  GroupAnswer: Model<GroupAnswerDoc>;
  GroupScore: Model<GroupScoreDoc>;
}

/** Compiles the models on one connection (each store has its own, never the global default). */
export function defineModels(conn: Connection, opts: MongoSchemaOptions = DEFAULT_MONGO_SCHEMA_OPTIONS): MongoModels {
  const s = buildSchemas(opts);
  return {
    Learner: conn.model<LearnerDoc>('Learner', s.learner),
    ProcessedEvent: conn.model<ProcessedEventDoc>('ProcessedEvent', s.processed),
    Group: conn.model<GroupDoc>('Group', s.group),
    GroupAnswer: conn.model<GroupAnswerDoc>('GroupAnswer', s.answer),
    GroupScore: conn.model<GroupScoreDoc>('GroupScore', s.score),
  };
}

// ---- Key escaping ----

const escapeKey = (k: string) => k.replace(/%/g, '%25').replace(/\./g, '%2E').replace(/\$/g, '%24');
const unescapeKey = (k: string) => k.replace(/%(2E|24|25)/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));

/** A JSON-like value made safe to store: keys escaped, `undefined` dropped (as JSON.stringify would). */
export function toStored(value: unknown): StoredJson {
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : toStored(v)));
  if (isPlainObject(value)) {
    const out: Record<string, StoredJson> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[escapeKey(k)] = toStored(v);
    return out;
  }
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`cannot store the number ${value}`);
    return value;
  }
  throw new TypeError(`cannot store a value of type ${typeof value} in a state document`);
}

/** The inverse of {@link toStored}. */
export function fromStored(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fromStored);
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[unescapeKey(k)] = fromStored(v);
    return out;
  }
  return value;
}

function storedObject(value: object): Record<string, StoredJson> {
  return toStored(value) as Record<string, StoredJson>;
}

// ---- Documents <-> contract types ----

export function toAddressDoc(a: Address): AddressDoc {
  return { channel: a.channel, conversationId: a.conversationId, kind: a.kind, ...(a.ref ? { ref: storedObject(a.ref) } : {}) };
}

export function fromAddressDoc(d: AddressDoc): Address {
  return { channel: d.channel, conversationId: d.conversationId, kind: d.kind, ...(d.ref ? { ref: fromStored(d.ref) as Address['ref'] } : {}) };
}

/** The fields a learner commit sets (everything but the key, the version and the event ids). */
export function learnerFields(c: Pick<LearnerCommit, 'state' | 'address' | 'now' | 'nudgeAt'>): Pick<LearnerDoc, 'state' | 'address' | 'updatedAt' | 'nudgeAt'> {
  return { state: storedObject(c.state), address: toAddressDoc(c.address), updatedAt: c.now, ...(c.nudgeAt ? { nudgeAt: c.nudgeAt } : {}) };
}

/** The whole document of a learner's first write (version 1). */
export function newLearnerDoc(c: LearnerCommit): LearnerDoc {
  return { channel: c.key.channel, userId: c.key.userId, version: 1, ...learnerFields(c), recentEvents: c.eventId ? [c.eventId] : [] };
}

export function toLearnerRecord(d: Pick<LearnerDoc, 'channel' | 'userId' | 'version' | 'state' | 'address' | 'updatedAt' | 'nudgeAt'>): LearnerRecord {
  return {
    key: { channel: d.channel, userId: d.userId },
    version: d.version,
    state: fromStored(d.state) as LearnerState,
    address: fromAddressDoc(d.address),
    updatedAt: new Date(d.updatedAt),
    nudgeAt: d.nudgeAt ? new Date(d.nudgeAt) : null,
  };
}

export function groupFields(c: Pick<GroupCommit, 'state' | 'address' | 'closesAt' | 'nextQuizAt'>): Pick<GroupDoc, 'state' | 'address' | 'closesAt' | 'nextQuizAt'> {
  return {
    state: storedObject(c.state),
    address: toAddressDoc(c.address),
    ...(c.closesAt ? { closesAt: c.closesAt } : {}),
    ...(c.nextQuizAt ? { nextQuizAt: c.nextQuizAt } : {}),
  };
}

export function newGroupDoc(c: GroupCommit, pending: PendingScores | null): GroupDoc {
  return {
    channel: c.key.channel,
    conversationId: c.key.conversationId,
    version: 1,
    ...groupFields(c),
    recentEvents: c.eventId ? [c.eventId] : [],
    ...(pending ? { pendingScores: pending } : {}),
  };
}

export function toGroupRecord(d: Pick<GroupDoc, 'channel' | 'conversationId' | 'version' | 'state' | 'address'>): GroupRecord {
  return {
    key: { channel: d.channel, conversationId: d.conversationId },
    version: d.version,
    state: fromStored(d.state) as GroupState,
    address: fromAddressDoc(d.address),
  };
}

export function toAnswerDoc(a: AnswerInsert): GroupAnswerDoc {
  return {
    channel: a.key.channel,
    conversationId: a.key.conversationId,
    quizId: a.quizId,
    question: a.question,
    userId: a.userId,
    displayName: a.displayName,
    option: a.option,
    at: a.at,
    eventId: a.eventId,
  };
}

export function toGroupAnswer(d: Pick<GroupAnswerDoc, 'userId' | 'displayName' | 'option' | 'at'>): GroupAnswer {
  return { userId: d.userId, displayName: d.displayName, option: d.option, at: new Date(d.at) };
}

export function toScoreRow(d: Pick<GroupScoreDoc, 'userId' | 'displayName' | 'points' | 'answered' | 'correct'>): ScoreRow {
  return { userId: d.userId, displayName: d.displayName, points: d.points, answered: d.answered, correct: d.correct };
}

export function learnerFilter(key: LearnerKey) {
  return { channel: key.channel, userId: key.userId };
}

export function groupFilter(key: ConversationKey) {
  return { channel: key.channel, conversationId: key.conversationId };
}
