/**
 * Activity records: what a learner did, one typed record per answer, lesson step or reminder event.
 * The engine emits them with each turn; the runtime writes them with the learner's state in the
 * same commit, keyed by the learner (so `/mydata` shows them and `/forget` erases them). The
 * dashboard's read models aggregate them (`src/web`). The state alone keeps only the latest of
 * everything; these keep the history the people who run the programme need.
 *
 * ```ts
 * const { state, activity } = handleLearnerEvent(course, options, turn);
 * await store.commitLearner({ ...commit, state, activity });
 * ```
 */

/** Where an answer was given. */
export type AnswerMode = 'lesson' | 'practice' | 'review' | 'group';

/** One answer to one quiz item. */
export interface ItemAnsweredRecord {
  type: 'item_answered';
  at: string;
  itemId: string;
  lessonId: string;
  mode: AnswerMode;
  /** The options chosen (indices, ascending). */
  options: number[];
  correct: boolean;
  /** The learner's first answer to this item ever. */
  firstTry: boolean;
  /** Milliseconds from showing the item to the answer. */
  durationMs: number;
  /** FSRS's predicted probability of recall at the time of the answer (items answered before only). */
  predictedRecall?: number;
  /** Days since the item was last answered (items answered before only). */
  daysSinceSeen?: number;
}

export interface LessonStartedRecord {
  type: 'lesson_started';
  at: string;
  lessonId: string;
}

export interface LessonCompletedRecord {
  type: 'lesson_completed';
  at: string;
  lessonId: string;
  correct: number;
  total: number;
  /** The first time this learner completed this lesson (its score is the first-try score). */
  first: boolean;
  /** Milliseconds from the lesson's first start to this completion (first completions only). */
  durationMs?: number;
}

/** What happened to a reminder ("nudge"). */
export type NudgeEvent = 'sent' | 'answered' | 'snoozed' | 'paused' | 'stopped' | 'unreachable';

export interface NudgeRecord {
  type: 'nudge';
  at: string;
  event: NudgeEvent;
  /**
   * Hour of the learner's local day (0-23): of the nudge for 'sent' and 'answered' (answered
   * within an hour), of the learner's action otherwise.
   */
  localHour: number;
}

export type ActivityRecord = ItemAnsweredRecord | LessonStartedRecord | LessonCompletedRecord | NudgeRecord;

export const ACTIVITY_TYPES = ['item_answered', 'lesson_started', 'lesson_completed', 'nudge'] as const satisfies readonly ActivityRecord['type'][];
export const NUDGE_EVENTS = ['sent', 'answered', 'snoozed', 'paused', 'stopped', 'unreachable'] as const satisfies readonly NudgeEvent[];
