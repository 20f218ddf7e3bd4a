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
import type { WorkshopExport, WorkshopStore } from './workshops.js';

export type { GroupAnswer, ScoreRow };

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
}

/** A learner export with nothing in it (what `exportLearner` returns after `forgetLearner`). */
export const EMPTY_EXPORT: LearnerExport = { learner: null, groupAnswers: [], groupScores: [], runningQuizzes: [] };

/** The anonymous id an erased member's team-quiz rows get: random, one per conversation, linked to nothing. */
export function formerParticipantId(): string {
  return `former-${randomUUID()}`;
}

export interface Store {
  getLearner(key: LearnerKey): Promise<LearnerRecord | null>;
  /** Writes a learner's state if its version is unchanged and the event is new, atomically. */
  commitLearner(c: LearnerCommit): Promise<CommitResult>;
  /**
   * Whether an inbound event was already applied (platform retries). Event ids (Slack's contain
   * user ids) are stored only as a keyed hash (see `eventIdHasher`), in every method that takes one.
   */
  isProcessed(channel: Channel, eventId: string): Promise<boolean>;
  /** Records an event as applied, for events that change no state. False if it already was. */
  markProcessed(channel: Channel, eventId: string, now: Date): Promise<boolean>;
  /**
   * Claims learners due for a nudge: returns those whose nudgeAt is at or before `now` (earliest
   * first, at most `limit`) and moves their nudgeAt to `leaseUntil` in the same step, so that the
   * next scan does not find them again while their delivery is queued. The delivery writes the real
   * next nudgeAt; if it is lost, the lease expires and the learner is found again. Does not change
   * the learner's version (a concurrent event's write simply recomputes nudgeAt).
   */
  claimDueLearners(now: Date, limit: number, leaseUntil: Date): Promise<DueLearner[]>;
  /**
   * Erases a learner from every record: their state is deleted; in team quizzes, running and
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

  /** Forgets processed event ids older than `before` (retries come within minutes). */
  pruneProcessed(before: Date): Promise<number>;
  /** Live workshops: the records, participants and answers (see `workshops.ts`). */
  readonly workshops: WorkshopStore;

  /** Cheap liveness check for /readyz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
