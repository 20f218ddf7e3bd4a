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
import type { LearnerState } from '../engine/state.js';
import type { GroupAnswer, GroupState, ScoreRow } from '../engine/group.js';

export type { GroupAnswer, ScoreRow };
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
  now: Date;
  /** What the learner did (the engine's records), written in the same atomic step as the state. */
  activity?: ActivityRecord[];
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
  /** The learner's activity records (answers, lessons, reminders: what the dashboard counts), oldest first. */
  activity: ActivityRecord[];
}

/** A learner export with nothing in it (what `exportLearner` returns after `forgetLearner`). */
export const EMPTY_EXPORT: LearnerExport = { learner: null, groupAnswers: [], groupScores: [], runningQuizzes: [], activity: [] };

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
  /** Adds owed messages outside a commit (an apology, a data export). */
  outboxAdd(rows: OutboxInsert[], now: Date): Promise<void>;
  /**
   * Unsent rows created at or before `now`, oldest first, whatever their `availableAt` (a sender
   * keeps a conversation waiting behind a row that is claimed or backing off, so that it keeps order).
   */
  outboxDue(now: Date, limit: number): Promise<OutboxRow[]>;
  /** Claims a row until `until` if it is still as read (one sender wins); false if another took it. */
  outboxClaim(row: OutboxRow, until: Date): Promise<boolean>;
  /** The platform accepted the row (or refused it for good): it is not returned again. */
  outboxDone(id: number, now: Date): Promise<void>;
  /** Sending failed in a way worth retrying: try again at `at`. */
  outboxRetry(id: number, at: Date): Promise<void>;

  /** Forgets processed event ids older than `before` (retries come within minutes). */
  pruneProcessed(before: Date): Promise<number>;
  /** Cheap liveness check for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
