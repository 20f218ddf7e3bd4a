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
import type { Lang, LearnerState } from '../engine/state.js';
import type { GroupState } from '../engine/group.js';
import type { ActivityRow } from './activity-rows.js';
import type { AnswerInsert, CertificateRecord, ConversationKey, GroupAnswer, GroupCommit, GroupRecord, LearnerCommit, LearnerRecord, ScoreRow } from './store.js';

export const CHANNELS = ['console', 'telegram', 'slack', 'teams'] as const satisfies readonly Channel[];

/** A JSON-like value as stored: plain objects with escaped keys, arrays and primitives. */
export type StoredJson = string | number | boolean | null | StoredJson[] | { [key: string]: StoredJson };

export interface AddressDoc {
  channel: Channel;
  conversationId: string;
  kind: 'direct' | 'group';
  ref?: Record<string, unknown>;
}

/**
 * A message owed (an outbox row) written inside the same atomic write as the change that produced
 * it (a learner's or group's update, an answer, a processed mark), then moved to the `outbox`
 * collection by a relay any process may run (by its `token`, so moving it twice changes nothing).
 */
export interface PendingOutboxDoc {
  token: string;
  channel: Channel;
  conversationId: string;
  payload: string;
  createdAt: Date;
  /** A proactive row (a nudge): its own lane when the outbox is read. */
  proactive?: boolean;
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
  /**
   * Activity records written in the same atomic update as the state, then copied into the activity
   * collection (by their `_id`, so copying twice changes nothing) and removed from here.
   */
  pendingActivity?: ActivityDoc[];
  pendingOutbox?: PendingOutboxDoc[];
}

/** One activity record (see `activity-rows.ts`); fields that do not apply are absent. */
export interface ActivityDoc {
  _id: string;
  channel: Channel;
  userId: string;
  at: Date;
  type: ActivityRow['type'];
  lang: string;
  country?: string;
  org?: string;
  lessonId?: string;
  itemId?: string;
  mode?: string;
  options?: string;
  correct?: boolean;
  first?: boolean;
  durationMs?: number;
  predicted?: number;
  daysSince?: number;
  score?: number;
  total?: number;
  event?: string;
  localHour?: number;
}

export interface ProcessedEventDoc {
  channel: Channel;
  eventId: string;
  at: Date;
  pendingOutbox?: PendingOutboxDoc[];
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
  pendingOutbox?: PendingOutboxDoc[];
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
  pendingOutbox?: PendingOutboxDoc[];
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

/** A signed certificate (see the store contract's CertificateRecord); `_id` is its UUID. */
export interface CertificateDoc {
  _id: string;
  /** The holder; both absent once erased. */
  channel?: Channel;
  userId?: string;
  achievement: string;
  title: string;
  lang: string;
  name?: string;
  jwt?: string;
  hash: string;
  issuedAt: Date;
  revokedAt?: Date;
}

/**
 * An xAPI statement in the outbox; `_id` is the statement's id. Written unconfirmed just before the
 * learner's conditional update, confirmed just after it (see MongoStore.commitLearner).
 */
export interface XapiOutboxDoc {
  _id: string;
  channel: Channel;
  userId: string;
  statement: string;
  createdAt: Date;
  leaseUntil: Date;
  sentAt?: Date;
  confirmed: boolean;
  /** The learner version and (hashed) event id the statement's commit writes, to confirm it later. */
  learnerVersion: number;
  eventKey?: string;
}

/** A linked account: it belongs to the person whose primary account is `person*`. */
export interface AccountDoc {
  channel: Channel;
  userId: string;
  personChannel: Channel;
  personUserId: string;
  address: AddressDoc;
  linkedAt: Date;
}

/** A link code, `_id` the code; removed when used, and by TTL once expired. */
export interface LinkCodeDoc {
  _id: string;
  personChannel: Channel;
  personUserId: string;
  expiresAt: Date;
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
  certificates: 'certificates',
  xapiOutbox: 'xapi_outbox',
  accounts: 'accounts',
  linkCodes: 'link_codes',
  activity: 'activity',
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
      pendingActivity: { type: [Schema.Types.Mixed], default: undefined },
      pendingOutbox: { type: [Schema.Types.Mixed], default: undefined },
    },
    { ...BASE, collection: COLLECTIONS.learners },
  );
  learner.index({ channel: 1, userId: 1 }, { unique: true, name: 'learner_key' });
  learner.index({ 'state.lastSeenAt': 1 }, { name: 'learner_last_seen' });
  learner.index({ 'pendingOutbox.token': 1 }, { sparse: true, name: 'learner_pending_outbox' });
  learner.index({ nudgeAt: 1 }, { partialFilterExpression: { nudgeAt: { $exists: true } }, name: 'learner_nudge_at' });

  const processed = new Schema<ProcessedEventDoc>(
    { channel, eventId: id, at: { type: Date, required: true }, pendingOutbox: { type: [Schema.Types.Mixed], default: undefined } },
    { ...BASE, collection: COLLECTIONS.processedEvents },
  );
  processed.index({ channel: 1, eventId: 1 }, { unique: true, name: 'processed_key' });
  processed.index({ 'pendingOutbox.token': 1 }, { sparse: true, name: 'processed_pending_outbox' });
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
      pendingOutbox: { type: [Schema.Types.Mixed], default: undefined },
    },
    { ...BASE, collection: COLLECTIONS.groups },
  );
  group.index({ channel: 1, conversationId: 1 }, { unique: true, name: 'group_key' });
  group.index({ 'pendingOutbox.token': 1 }, { sparse: true, name: 'group_pending_outbox' });
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
      pendingOutbox: { type: [Schema.Types.Mixed], default: undefined },
    },
    { ...BASE, collection: COLLECTIONS.groupAnswers },
  );
  answer.index({ channel: 1, conversationId: 1, quizId: 1, question: 1, userId: 1 }, { unique: true, name: 'answer_key' });
  answer.index({ channel: 1, userId: 1 }, { name: 'answer_user' });
  answer.index({ 'pendingOutbox.token': 1 }, { sparse: true, name: 'answer_pending_outbox' });

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

  answer.index({ at: 1 }, { name: 'answer_at' });

  const activity = new Schema<ActivityDoc>(
    {
      _id: { type: String, required: true },
      channel,
      userId: id,
      at: { type: Date, required: true },
      type: { type: String, enum: ['item_answered', 'lesson_started', 'lesson_completed', 'nudge'], required: true },
      lang: { type: String, required: true },
      country: String,
      org: String,
      lessonId: String,
      itemId: String,
      mode: String,
      options: String,
      correct: Boolean,
      first: Boolean,
      durationMs: Number,
      predicted: Number,
      daysSince: Number,
      score: Number,
      total: Number,
      event: String,
      localHour: Number,
    },
    { ...BASE, collection: COLLECTIONS.activity },
  );
  activity.index({ channel: 1, userId: 1, at: 1 }, { name: 'activity_user' });
  activity.index({ type: 1, at: 1 }, { name: 'activity_type_at' });

  const certificate = new Schema<CertificateDoc>(
    {
      _id: id,
      channel: { type: String, enum: CHANNELS },
      userId: { type: String },
      achievement: id,
      title: { type: String, required: true },
      lang: id,
      name: { type: String },
      jwt: { type: String },
      hash: id,
      issuedAt: { type: Date, required: true },
      revokedAt: { type: Date },
    },
    { ...BASE, collection: COLLECTIONS.certificates },
  );
  certificate.index({ channel: 1, userId: 1 }, { partialFilterExpression: { userId: { $exists: true } }, name: 'certificate_holder' });

  const xapi = new Schema<XapiOutboxDoc>(
    {
      _id: id,
      channel,
      userId: id,
      statement: { type: String, required: true },
      createdAt: { type: Date, required: true },
      leaseUntil: { type: Date, required: true },
      sentAt: { type: Date },
      confirmed: { type: Boolean, required: true },
      learnerVersion: version,
      eventKey: { type: String },
    },
    { ...BASE, collection: COLLECTIONS.xapiOutbox },
  );
  xapi.index({ leaseUntil: 1, createdAt: 1 }, { partialFilterExpression: { sentAt: { $exists: false } }, name: 'xapi_due' });
  xapi.index({ channel: 1, userId: 1 }, { name: 'xapi_learner' });

  const account = new Schema<AccountDoc>(
    { channel, userId: id, personChannel: channel, personUserId: id, address: { type: addressSchema, required: true }, linkedAt: { type: Date, required: true } },
    { ...BASE, collection: COLLECTIONS.accounts },
  );
  account.index({ channel: 1, userId: 1 }, { unique: true, name: 'account_key' });
  account.index({ personChannel: 1, personUserId: 1 }, { name: 'account_person' });
  const linkCode = new Schema<LinkCodeDoc>(
    { _id: id, personChannel: channel, personUserId: id, expiresAt: { type: Date, required: true } },
    { ...BASE, collection: COLLECTIONS.linkCodes },
  );
  linkCode.index({ expiresAt: 1 }, { expireAfterSeconds: 0, name: 'link_code_ttl' });
  linkCode.index({ personChannel: 1, personUserId: 1 }, { name: 'link_code_person' });

  return { learner, processed, group, answer, score, activity, certificate, xapi, account, linkCode };
}

export interface MongoModels {
  Learner: Model<LearnerDoc>;
  ProcessedEvent: Model<ProcessedEventDoc>;
  Group: Model<GroupDoc>;
  GroupAnswer: Model<GroupAnswerDoc>;
  GroupScore: Model<GroupScoreDoc>;
  Certificate: Model<CertificateDoc>;
  XapiOutbox: Model<XapiOutboxDoc>;
  Account: Model<AccountDoc>;
  LinkCode: Model<LinkCodeDoc>;
  Activity: Model<ActivityDoc>;
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
    Certificate: conn.model<CertificateDoc>('Certificate', s.certificate),
    XapiOutbox: conn.model<XapiOutboxDoc>('XapiOutbox', s.xapi),
    Account: conn.model<AccountDoc>('Account', s.account),
    LinkCode: conn.model<LinkCodeDoc>('LinkCode', s.linkCode),
    Activity: conn.model<ActivityDoc>('Activity', s.activity),
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

/** An activity row as a document with the given id (null fields left out). */
export function toActivityDoc(id: string, row: ActivityRow): ActivityDoc {
  const doc: Record<string, unknown> = { _id: id };
  for (const [k, v] of Object.entries(row)) if (v !== null && v !== undefined) doc[k] = v;
  return doc as unknown as ActivityDoc;
}

export function learnerFilter(key: LearnerKey) {
  return { channel: key.channel, userId: key.userId };
}

export function groupFilter(key: ConversationKey) {
  return { channel: key.channel, conversationId: key.conversationId };
}

export function toCertificateDoc(r: CertificateRecord): CertificateDoc {
  return {
    _id: r.id,
    ...(r.learner ? { channel: r.learner.channel, userId: r.learner.userId } : {}),
    achievement: r.achievement,
    title: r.title,
    lang: r.lang,
    ...(r.name !== null ? { name: r.name } : {}),
    ...(r.jwt !== null ? { jwt: r.jwt } : {}),
    hash: r.hash,
    issuedAt: r.issuedAt,
    ...(r.revokedAt ? { revokedAt: r.revokedAt } : {}),
  };
}

export function toCertificateRecord(d: CertificateDoc): CertificateRecord {
  return {
    id: d._id,
    learner: d.channel && d.userId ? { channel: d.channel, userId: d.userId } : null,
    achievement: d.achievement,
    title: d.title,
    lang: d.lang as Lang,
    name: d.name ?? null,
    jwt: d.jwt ?? null,
    hash: d.hash,
    issuedAt: new Date(d.issuedAt),
    revokedAt: d.revokedAt ? new Date(d.revokedAt) : null,
  };
}
