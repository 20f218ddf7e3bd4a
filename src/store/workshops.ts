/**
 * The workshop part of the store contract (see {@link import('./store.js').Store}): a workshop is
 * one document written with a version check (the trainer's actions); its participants and their
 * answers are insert-only rows, so that 300 people answering in the same second never contend on
 * one record, and a unique key (workshop, step, participant) counts each answer once.
 */
import type { Address, LearnerKey } from '../messages.js';
import type { Lang } from '../engine/state.js';
import type { Tally, WorkshopState } from '../engine/workshop.js';

export interface WorkshopRecord {
  /** Random id (button data and URLs of the trainer's pages). */
  id: string;
  /** The short join code participants type; unique. */
  code: string;
  /** The board's unguessable read token (its link needs no login). */
  boardToken: string;
  version: number;
  state: WorkshopState;
  createdAt: Date;
  updatedAt: Date;
}

export interface WorkshopParticipant {
  workshopId: string;
  learner: LearnerKey;
  /** The name the platform gives (the podium shows it). */
  displayName: string;
  lang: Lang;
  address: Address;
  joinedAt: Date;
  /** The last workshop post (see `WorkshopState.post`) delivered to this participant. */
  deliveredPost: number;
}

export interface WorkshopAnswer {
  workshopId: string;
  step: number;
  learner: LearnerKey;
  displayName: string;
  itemId: string;
  option: number;
  correct: boolean;
  at: Date;
}

export interface WorkshopAnswerInsert extends WorkshopAnswer {
  /** The inbound event that carried the answer: a retry of the same event is a 'duplicate'. */
  eventId: string;
}

export interface NewWorkshopRecord {
  id: string;
  code: string;
  boardToken: string;
  state: WorkshopState;
  now: Date;
}

export interface WorkshopCommit {
  id: string;
  expectedVersion: number;
  state: WorkshopState;
  now: Date;
}

export interface WorkshopJoin {
  workshopId: string;
  learner: LearnerKey;
  displayName: string;
  lang: Lang;
  address: Address;
  now: Date;
}

/** What one learner has in workshops, for /mydata. */
export interface WorkshopExport {
  workshops: { workshopId: string; displayName: string; lang: string; joinedAt: string }[];
  answers: { workshopId: string; step: number; itemId: string; option: number; correct: boolean; at: string }[];
}

export interface WorkshopStore {
  /** Stores a new workshop: 'code_taken' when its join code (or id) is already used. */
  createWorkshop(w: NewWorkshopRecord): Promise<'created' | 'code_taken'>;
  getWorkshop(id: string): Promise<WorkshopRecord | null>;
  workshopByCode(code: string): Promise<WorkshopRecord | null>;
  workshopByBoardToken(token: string): Promise<WorkshopRecord | null>;
  /** The most recently created workshops first. */
  listWorkshops(limit: number): Promise<WorkshopRecord[]>;
  /** Writes the workshop's state if its version is still `expectedVersion`. */
  commitWorkshop(c: WorkshopCommit): Promise<'committed' | 'conflict'>;
  /**
   * Adds a participant, or updates their name, language and address when they join again (a
   * participant who comes back keeps what was delivered to them): 'joined' or 'rejoined'.
   */
  joinWorkshop(j: WorkshopJoin): Promise<'joined' | 'rejoined'>;
  getParticipant(workshopId: string, learner: LearnerKey): Promise<WorkshopParticipant | null>;
  countParticipants(workshopId: string): Promise<number>;
  /** Participants whose last delivered post is before `post` (owed the current one), oldest joiners first. */
  participantsOwed(workshopId: string, post: number, limit: number): Promise<WorkshopParticipant[]>;
  listParticipants(workshopId: string): Promise<WorkshopParticipant[]>;
  /** Records that `post` reached the participant (never moves backwards). */
  markDelivered(workshopId: string, learner: LearnerKey, post: number): Promise<void>;
  /** The workshop the learner joined last, if any. */
  lastWorkshopOf(learner: LearnerKey): Promise<string | null>;
  /**
   * Records one participant's answer to one step: 'recorded', 'already_answered' when they
   * answered this step before with another event, or 'duplicate' when this very event was recorded.
   */
  recordWorkshopAnswer(a: WorkshopAnswerInsert): Promise<'recorded' | 'already_answered' | 'duplicate'>;
  getWorkshopAnswer(workshopId: string, step: number, learner: LearnerKey): Promise<WorkshopAnswer | null>;
  /** Answers to one step counted per option (`options` long). */
  tallyWorkshopStep(workshopId: string, step: number, options: number): Promise<Tally>;
  /** Every answer of the session, in step then time order (results, podium, CSV). */
  listWorkshopAnswers(workshopId: string): Promise<WorkshopAnswer[]>;
  /** Erases the learner from every workshop (participations and answers), for /forget. */
  forgetWorkshopParticipant(learner: LearnerKey): Promise<void>;
  exportWorkshopParticipant(learner: LearnerKey): Promise<WorkshopExport>;
}
