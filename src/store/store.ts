/**
 * The store contract: everything the bot keeps. One interface, implemented by the embedded SQLite
 * store and the MongoDB store, and one shared conformance suite (`test/store-contract.ts`) that
 * every implementation passes.
 *
 * Designed for documents and atomic updates: a learner is one document written with a version
 * check; a group quiz is one document per conversation; each group answer is its own insert-only
 * record, so that hundreds of people answering in the same second never contend on one record.
 */
import { randomUUID } from 'node:crypto';
import type { Address, Channel, LearnerKey } from '../messages.js';
import type { Lang, LearnerState } from '../engine/state.js';
import type { AnswerTally, GroupAnswer, GroupState, ScoreRow } from '../engine/group.js';
import type { WorkshopExport, WorkshopStore } from './workshops.js';

export type { GroupAnswer, ScoreRow };
export type { AnswerTally } from '../engine/group.js';
import type { ActivityRecord } from '../engine/activity.js';
import type { DashboardReads } from './dashboard.js';

export interface LearnerRecord {
  key: LearnerKey;
  /** Increases by one on every write; 0 means "not stored yet". */
  version: number;
  state: LearnerState;
  address: Address;
  updatedAt: Date;
  /** When the learner next needs a nudge; null when none is planned. Indexed. */
  nudgeAt: Date | null;
}

/** A learner found due for a nudge: who, and the nudge time that was due (part of the job's identity). */
export interface DueLearner {
  key: LearnerKey;
  nudgeAt: Date;
}

export interface ConversationKey {
  channel: Channel;
  conversationId: string;
}

export interface GroupRecord {
  key: ConversationKey;
  version: number;
  state: GroupState;
  address: Address;
}

/**
 * A message (or several) the bot owes a conversation, written in the same commit as the state
 * change that produced it and sent later by the channel's delivery (the durable outbox). `target`
 * is what the channel needs to answer in place (the tapped message, a callback to stop a spinner),
 * as plain JSON.
 */
export interface OutboxInsert {
  channel: Channel;
  conversationId: string;
  /** JSON: { address, messages, target? } (see src/runtime/durable.ts). */
  payload: string;
  /**
   * A message the bot sends on its own initiative to one learner (a nudge), paced to the platform's
   * global rate: read in a lane of its own, so that a 09:00 burst of them never hides replies.
   */
  proactive?: boolean;
}

export interface OutboxRow extends OutboxInsert {
  id: number;
  createdAt: Date;
  /** Not before this time (a retry's backoff, or another sender's claim). */
  availableAt: Date;
  attempts: number;
}

/** An inbound event accepted before the platform's 2xx, not yet applied (the durable inbox). */
export interface InboxInsert {
  channel: Channel;
  /** The platform's id of the event: a second delivery of it is not added again. */
  eventId: string;
  /** Events of one lane (a learner, a group) are applied in the order they were accepted. */
  lane: string;
  /** JSON: { inbound, target? } (see src/runtime/durable.ts). */
  payload: string;
  receivedAt: Date;
}

export interface InboxRow extends InboxInsert {
  seq: number;
  availableAt: Date;
  attempts: number;
}

/** Outcome of a conditional write. */
export type CommitResult = 'committed' | 'conflict' | 'duplicate';

export interface LearnerCommit {
  key: LearnerKey;
  /** The version read; the write succeeds only if the stored version is still this one. */
  expectedVersion: number;
  state: LearnerState;
  address: Address;
  nudgeAt: Date | null;
  /** The inbound event this write applies; a second write for the same event is a 'duplicate'. */
  eventId?: string;
  /** Messages owed because of this change, written in the same atomic step. */
  outbox?: OutboxInsert[];
  /** Certificates issued by this event, written in the same atomic step (ids are new: a clash throws). */
  certificates?: CertificateRecord[];
  /** xAPI statements this event produced, for the outbox, written in the same atomic step. */
  xapi?: XapiRow[];
  now: Date;
  /** What the learner did (the engine's records), written in the same atomic step as the state. */
  activity?: ActivityRecord[];
}

/**
 * A signed certificate as kept for `/verify`. Erasing its holder (`/forget`) clears `learner`,
 * `name` and `jwt`; the id, achievement, title, language, dates and the hash of the signed
 * credential stay, so that the verification page can still say that it was issued.
 */
export interface CertificateRecord {
  /** A UUID: the credential's id is `urn:uuid:<id>`, its page `/verify/<id>`. */
  id: string;
  learner: LearnerKey | null;
  /** `course` or `module:<moduleId>`. */
  achievement: string;
  /** The achievement's name in the certificate's language. */
  title: string;
  lang: Lang;
  /** The name printed, as the learner typed it. */
  name: string | null;
  /** The signed credential (VC-JWT). */
  jwt: string | null;
  /** SHA-256 of the signed credential, hex. */
  hash: string;
  issuedAt: Date;
  revokedAt: Date | null;
}

/**
 * One xAPI statement waiting in the outbox (`xapi_outbox`): written with the learner's state,
 * claimed by the sender, marked sent once the Learning Record Store accepted it. `/forget` deletes
 * the learner's rows, sent or not.
 */
export interface XapiRow {
  /** The statement's id (a UUID). */
  id: string;
  learner: LearnerKey;
  /** The statement, as JSON. */
  statement: string;
  createdAt: Date;
}

/**
 * Joins an account (and any accounts already linked to it) to a person, in one step: the person's
 * record gets the merged state (version-checked), the joining account's own record goes
 * (version-checked), and the joining account and its linked accounts point to the person.
 */
export interface LinkCommit {
  /** The person: the primary account, whose record holds the state. */
  primary: LearnerKey;
  expectedVersion: number;
  state: LearnerState;
  address: Address;
  nudgeAt: Date | null;
  /** The joining account (a person's primary account itself, or one with no links). */
  secondary: LearnerKey;
  /** The joining account's record version (0: it has none). */
  secondaryVersion: number;
  /** Where the joining account was reached: its own record's address if it leaves again. */
  secondaryAddress: Address;
  now: Date;
}

/** An account's own record after /unlink: a copy of the person's state. */
export interface UnlinkCopy {
  state: LearnerState;
  address: Address;
  nudgeAt: Date | null;
  now: Date;
}

export interface GroupCommit {
  key: ConversationKey;
  expectedVersion: number;
  state: GroupState;
  address: Address;
  /** When the open question closes (indexed), or null. */
  closesAt: Date | null;
  /** When the group's weekly team quiz next starts (indexed), or null when none is scheduled. */
  nextQuizAt: Date | null;
  /** Score increments written in the same atomic step (a closed question's points). */
  scores?: ScoreRow[];
  eventId?: string;
  outbox?: OutboxInsert[];
  now: Date;
}

export interface AnswerInsert {
  key: ConversationKey;
  quizId: string;
  question: number;
  userId: string;
  displayName: string;
  option: number;
  at: Date;
  eventId: string;
  /** The reply owed for this answer, written with it. */
  outbox?: OutboxInsert[];
}

/**
 * Everything stored about one learner, for /mydata: every field of every record that names them.
 * A new table or collection keyed by learner adds its rows here and erases them in `forgetLearner`
 * (the contract suite checks both).
 */
export interface LearnerExport {
  learner: {
    channel: Channel;
    userId: string;
    address: Address;
    state: LearnerState;
    updatedAt: string;
    /** When the next reminder or review nudge is planned (ISO), or null. */
    nudgeAt: string | null;
  } | null;
  /** Team-quiz answers, with the name shown with them. */
  groupAnswers: { conversationId: string; quizId: string; question: number; option: number; displayName: string; at: string }[];
  /** Running team-quiz leaderboards, with the name shown on them. */
  groupScores: { conversationId: string; displayName: string; points: number; answered: number; correct: number }[];
  /** Team quizzes running now in which the learner is a participant: their name and score in it. */
  runningQuizzes: { conversationId: string; quizId: string; displayName: string; points: number; correct: number; answered: number }[];
  /** Workshops joined and the answers given there (present only when the learner joined one). */
  workshops?: WorkshopExport;
  /** Certificates issued to the learner, with the name printed and the signed credential. */
  certificates: { id: string; achievement: string; title: string; lang: Lang; name: string | null; issuedAt: string; revokedAt: string | null; credential: string | null }[];
  /** The learner's activity records (answers, lessons, reminders: what the dashboard counts), oldest first. */
  activity: ActivityRecord[];
}

/** A learner export with nothing in it (what `exportLearner` returns after `forgetLearner`). */
export const EMPTY_EXPORT: LearnerExport = { learner: null, groupAnswers: [], groupScores: [], runningQuizzes: [], activity: [], certificates: [] };

/** The anonymous id an erased member's team-quiz rows get: random, one per conversation, linked to nothing. */
export function formerParticipantId(): string {
  return `former-${randomUUID()}`;
}

export interface Store extends DashboardReads {
  getLearner(key: LearnerKey): Promise<LearnerRecord | null>;
  /** Writes a learner's state if its version is unchanged and the event is new, atomically. */
  commitLearner(c: LearnerCommit): Promise<CommitResult>;
  /**
   * Whether an inbound event was already applied (platform retries). Event ids (Slack's contain
   * user ids) are stored only as a keyed hash (see `eventIdHasher`), in every method that takes one.
   */
  isProcessed(channel: Channel, eventId: string): Promise<boolean>;
  /**
   * Records an event as applied, for events that change no state, with the reply it owes (in the
   * same atomic step). False if it already was (and then nothing is written).
   */
  markProcessed(channel: Channel, eventId: string, now: Date, outbox?: OutboxInsert[]): Promise<boolean>;
  /**
   * Claims learners due for a nudge: returns those whose nudgeAt is at or before `now` (earliest
   * first, at most `limit`) and moves their nudgeAt to `leaseUntil` in the same step, so that the
   * next scan does not find them again while their delivery is queued. The delivery writes the real
   * next nudgeAt; if it is lost, the lease expires and the learner is found again. Does not change
   * the learner's version (a concurrent event's write simply recomputes nudgeAt).
   */
  claimDueLearners(now: Date, limit: number, leaseUntil: Date): Promise<DueLearner[]>;
  /**
   * Erases a learner from every record: their state and activity records are deleted; in team quizzes, running and
   * finished, their answers and points stay under a random id with no name (`formerParticipantId`,
   * `FORMER_PARTICIPANT_NAME`), so that the team's results do not change. The embedded store also
   * overwrites the freed space and empties its write-ahead log, so that no copy stays in the files.
   * Their certificates keep only what {@link CertificateRecord} says stays.
   */
  forgetLearner(key: LearnerKey): Promise<void>;
  exportLearner(key: LearnerKey): Promise<LearnerExport>;

  getGroup(key: ConversationKey): Promise<GroupRecord | null>;
  commitGroup(c: GroupCommit): Promise<CommitResult>;
  /** Group conversations whose open question closes at or before `now`. */
  groupsDue(now: Date, limit: number): Promise<ConversationKey[]>;
  /**
   * Group conversations whose weekly team quiz starts at or before `now` (nextQuizAt), earliest
   * first. Only finds them: the runtime starts each quiz with a version-checked commit that moves
   * nextQuizAt on, so that one process wins.
   */
  groupQuizzesDue(now: Date, limit: number): Promise<ConversationKey[]>;
  /**
   * Records one member's answer to one question: 'recorded', 'already_answered' when this member
   * answered this question before, or 'duplicate' when this very event was recorded before. The
   * event id is recorded as processed in both first cases, so a redelivery of a refused answer is a
   * 'duplicate' too.
   */
  recordGroupAnswer(a: AnswerInsert): Promise<'recorded' | 'already_answered' | 'duplicate'>;
  listGroupAnswers(key: ConversationKey, quizId: string, question: number): Promise<GroupAnswer[]>;
  /**
   * How many answers one question has, and whether `userId` gave one of them: what a tap needs,
   * without reading every answer (a tap on a question of a 1,000-member quiz reads two numbers, not
   * the answers so far).
   */
  groupAnswerTally(key: ConversationKey, quizId: string, question: number, userId: string): Promise<AnswerTally>;
  /** Adds points atomically (increments, so that concurrent closers cannot lose each other's points). */
  addGroupScores(key: ConversationKey, rows: ScoreRow[]): Promise<void>;
  leaderboard(key: ConversationKey, limit: number): Promise<ScoreRow[]>;

  // ---- the durable inbox and outbox ----

  /** Accepts an inbound event; false when this event (channel and id) was accepted before. */
  inboxAdd(item: InboxInsert): Promise<boolean>;
  /**
   * Unapplied events accepted at or before `now`, in the order they were accepted, whatever their
   * `availableAt` (the worker keeps a lane waiting behind an event that is not available yet).
   */
  inboxPending(now: Date, limit: number): Promise<InboxRow[]>;
  /** The event is applied (or given up): it is not returned again. */
  inboxApplied(seq: number, now: Date): Promise<void>;
  /** The event failed to apply: try again at `at`. */
  inboxRetry(seq: number, at: Date): Promise<void>;
  /**
   * Claims a lane for `owner` until `until` (a worker in one process applies a lane's events; others
   * leave it alone): true when the lane was free, its claim had run out at `now`, or `owner` held it
   * already (the claim is then renewed). False when another owner holds it.
   */
  inboxClaimLane(lane: string, owner: string, now: Date, until: Date): Promise<boolean>;
  /** Gives a lane back (only if `owner` still holds it). */
  inboxReleaseLane(lane: string, owner: string): Promise<void>;
  /** Adds owed messages outside a commit (an apology, a data export). */
  outboxAdd(rows: OutboxInsert[], now: Date): Promise<void>;
  /**
   * Unsent rows created at or before `now`, whatever their `availableAt` (a sender keeps a
   * conversation waiting behind a row that is claimed or backing off, so that it keeps order): the
   * oldest `limit` of each lane (a channel's replies, a channel's proactive rows), merged oldest
   * first, so that a backlog in one lane (a burst of nudges, a platform that is down) never hides
   * the rows of another. `proactiveLimit` (default `limit`) bounds the proactive lanes.
   */
  outboxDue(now: Date, limit: number, proactiveLimit?: number): Promise<OutboxRow[]>;
  /** Claims a row until `until` if it is still as read (one sender wins); false if another took it. */
  outboxClaim(row: OutboxRow, until: Date): Promise<boolean>;
  /** The platform accepted the row (or refused it for good): it is not returned again. */
  outboxDone(id: number, now: Date): Promise<void>;
  /** Sending failed in a way worth retrying: try again at `at`. */
  outboxRetry(id: number, at: Date): Promise<void>;

  /** Forgets processed event ids older than `before` (retries come within minutes). */
  pruneProcessed(before: Date): Promise<number>;
  /** The person an account belongs to: the primary account it is linked to, or the account itself. */
  resolveAccount(key: LearnerKey): Promise<LearnerKey>;
  /** The accounts linked to a person (not the primary itself), in the order they were linked, with their addresses. */
  linkedAccounts(person: LearnerKey): Promise<{ key: LearnerKey; address: Address }[]>;
  /** Keeps a link code for a person until `expiresAt` (a new code for the same person replaces the old one). */
  saveLinkCode(code: string, person: LearnerKey, expiresAt: Date): Promise<void>;
  /** Uses a link code: the person it was made for, or null when unknown or expired. A code works once. */
  takeLinkCode(code: string, now: Date): Promise<LearnerKey | null>;
  /** See {@link LinkCommit}: 'conflict' when either record changed since it was read (nothing is written). */
  linkAccounts(c: LinkCommit): Promise<'committed' | 'conflict'>;
  /** Separates an account from its person, giving it its own record (a copy): false when it was not linked. */
  unlinkAccount(account: LearnerKey, copy: UnlinkCopy): Promise<boolean>;

  /** A certificate by its id, or null. */
  getCertificate(id: string): Promise<CertificateRecord | null>;
  /** Marks a certificate revoked at `at`: true if it was found and not revoked before. */
  revokeCertificate(id: string, at: Date): Promise<boolean>;

  /**
   * Claims xAPI statements to send: unsent rows whose lease has run out (new rows have none), oldest
   * first, at most `limit`, and leases them until `leaseUntil` in the same step, so that another
   * sender (or the next tick) does not send them at the same time. A lost send is retried when its
   * lease ends.
   */
  claimXapi(now: Date, limit: number, leaseUntil: Date): Promise<XapiRow[]>;
  /** Marks statements sent (the LRS accepted them): they are never claimed again. */
  markXapiSent(ids: string[], at: Date): Promise<void>;
  /** How many statements wait to be sent (for /metrics and tests). */
  xapiPending(): Promise<number>;
  /** Deletes statements sent before `before`. */
  pruneXapi(before: Date): Promise<number>;

  /** Live workshops: the records, participants and answers (see `workshops.ts`). */
  readonly workshops: WorkshopStore;

  /** Cheap liveness check for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** A certificate as /mydata shows it. */
export function exportCertificate(c: CertificateRecord): LearnerExport['certificates'][number] {
  return {
    id: c.id,
    achievement: c.achievement,
    title: c.title,
    lang: c.lang,
    name: c.name,
    issuedAt: c.issuedAt.toISOString(),
    revokedAt: c.revokedAt?.toISOString() ?? null,
    credential: c.jwt,
  };
}
