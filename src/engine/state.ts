/**
 * A learner's state: everything the engine needs to answer the next event. Plain JSON, so that
 * every store can keep it as one document and update it atomically.
 */

import type { CertificateRef } from './certificates.js';
import type { Address } from '../messages.js';

export const LANGS = ['en', 'fr', 'es'] as const;
export type Lang = (typeof LANGS)[number];

export function isLang(s: string | undefined): s is Lang {
  return !!s && (LANGS as readonly string[]).includes(s);
}

export interface LessonProgress {
  status: 'in_progress' | 'done';
  /** Score of the last finished quiz of this lesson. */
  lastScore?: { correct: number; total: number };
  /** Score of the first finished quiz of this lesson (certificates count first tries). */
  firstScore?: { correct: number; total: number };
  completedAt?: string;
  /** When the learner first started this lesson (for the time it takes to complete). */
  startedAt?: string;
}

/**
 * One quiz item's spaced-repetition card (FSRS fields as ts-fsrs defines them, dates as ISO
 * strings), plus the answer history the engine needs to rate the next answer.
 */
export interface ReviewCard {
  due: string;
  stability: number;
  difficulty: number;
  elapsed_days: number;
  scheduled_days: number;
  learning_steps: number;
  reps: number;
  lapses: number;
  state: number;
  last_review?: string;
  /** Answers given so far, and how many were right. */
  seen: number;
  right: number;
  /** Wrong answers on this item since it was last answered right (absent: none). */
  wrongTries?: number;
}

/** A quiz the learner is taking: a lesson's items, a practice quiz, or a review session. */
export interface QuizRun {
  kind: 'quiz';
  mode: 'lesson' | 'practice' | 'review';
  lessonId?: string;
  itemIds: string[];
  index: number;
  correct: number;
  /** Options ticked so far on a multiple-answer item. */
  selected: number[];
  /** Set once the current item is answered, while its feedback is on screen. */
  answered?: { correct: boolean };
  /** When the current item was shown, to tell quick answers from slow ones. */
  shownAt: string;
  /** Wrong answers on the current item in this run (kept with the answered item, reset by the next one). */
  wrongTries: number;
}

export type Position = { kind: 'idle' } | { kind: 'card'; lessonId: string; index: number } | QuizRun;

/** Reminder and nudge settings (see the scheduling module). */
export interface NudgeSettings {
  timezone: string;
  /** Daily lesson reminder at local "HH:MM", or null when off. */
  remindAt: string | null;
  /** When the reminder was set: occurrences before it do not count. */
  remindSetAt?: string;
  /** Days of the week the reminder may come, 0 = Sunday. */
  remindDays: number[];
  /** Quiet hours, local "HH:MM" start and end. */
  quietStart: string;
  quietEnd: string;
  paused: boolean;
  /** Nudges may wait until this time (snooze). */
  snoozedUntil?: string;
  /** Nudges sent since the learner last wrote; three in a row pause nudges. */
  unanswered: number;
  lastNudgeAt?: string;
  /** The id of the last nudge job recorded, so that a retried job never records it twice. */
  lastNudgeJob?: string;
  lastReviewNudgeAt?: string;
  lastReminderAt?: string;
  /**
   * Where reminders go when the learner chose (`/remind here`, with linked accounts); absent: the
   * conversation used last.
   */
  reminderAddress?: Address;
  /** Set when the platform says the learner cannot be reached (blocked the bot, left). */
  unreachable?: boolean;
}

export interface LearnerState {
  schema: 1;
  lang: Lang;
  /** Whether the learner chose the language (otherwise it follows the platform's hint). */
  langChosen: boolean;
  createdAt: string;
  lastSeenAt: string;
  /**
   * When the learner last learned (read a card, answered a quiz item). Only learning satisfies the
   * day's reminder and holds nudges back; settings commands do not. Absent: never.
   */
  lastLearnedAt?: string;
  displayName?: string;
  lessons: Record<string, LessonProgress>;
  reviews: Record<string, ReviewCard>;
  position: Position;
  /** Set while the bot waits for a yes or no to /forget. */
  confirmingForget?: boolean;
  /** Certificates issued to the learner (the signed records are in the store). */
  certificates?: CertificateRef[];
  /**
   * Set while /certificate waits for the name to print (no `name` yet) or for the learner to confirm
   * it. Any other command or button drops it.
   */
  certificateDraft?: { achievement: string; name?: string };
  /** /stop: the learner asked the bot to stop writing first. */
  stopped: boolean;
  nudges: NudgeSettings;
  /** Optional, asked once and skippable: the ISO 3166 code of the country the learner works for. */
  country?: string;
  /** Optional, asked once and skippable: the learner's organisation, as typed (at most 80 characters). */
  org?: string;
  /** Whether the optional country and organisation questions were asked already. */
  profileAsked?: boolean;
  /** Set while the bot waits for the learner to type a country or an organisation. */
  awaiting?: 'country' | 'org';
}

export const DEFAULT_NUDGES: NudgeSettings = {
  timezone: 'UTC',
  remindAt: null,
  remindDays: [1, 2, 3, 4, 5],
  quietStart: '21:00',
  quietEnd: '08:00',
  paused: false,
  unanswered: 0,
};

export function newLearnerState(now: Date, lang: Lang, displayName?: string): LearnerState {
  return {
    schema: 1,
    lang,
    langChosen: false,
    createdAt: now.toISOString(),
    lastSeenAt: now.toISOString(),
    ...(displayName ? { displayName } : {}),
    lessons: {},
    reviews: {},
    position: { kind: 'idle' },
    stopped: false,
    nudges: { ...DEFAULT_NUDGES },
  };
}
