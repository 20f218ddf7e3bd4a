/**
 * The store contract's read side for the dashboard: raw aggregates both stores compute with their
 * own query languages (SQL, aggregation pipelines) over indexed fields. The read models in
 * `src/web/read-models.ts` turn them into the dashboard's tables (rates, medians, discrimination,
 * calibration, small-group suppression). Nothing here writes.
 */
import type { Channel } from '../messages.js';
import type { NudgeEvent } from '../engine/activity.js';

/** Which learners and which period: activity dated in [from, to). */
export interface DashboardFilter {
  from: Date;
  to: Date;
  channel?: Channel;
  lang?: string;
  /** ISO 3166 code. */
  country?: string;
  org?: string;
}

/** Learners seen in the period (last seen at or after `from`, created before `to`), by their dimensions. */
export interface LearnerCountRow {
  channel: Channel;
  lang: string;
  country: string | null;
  org: string | null;
  learners: number;
}

/** One UTC day (`YYYY-MM-DD`) or one week (its Monday). */
export interface PeriodRow {
  period: string;
  /** Learners with any activity in the period. */
  learners: number;
  lessonsCompleted: number;
  answers: number;
}

export interface LessonFunnelRow {
  lessonId: string;
  /** Learners who started the lesson in the period (their first start). */
  started: number;
  /** Learners who completed it for the first time in the period. */
  completed: number;
  /** Sum of first-completion scores (right answers) and of their item counts. */
  firstScoreSum: number;
  firstScoreTotal: number;
}

/** First completions by time taken: `minutes` is the bucket's lower bound (whole minutes below 2 h, then hours below 3 days, then days). */
export interface DurationBucketRow {
  lessonId: string;
  minutes: number;
  count: number;
}

/** Learners silent since `silentSince`, by where they were when they went silent. */
export interface StopPointRow {
  kind: 'card' | 'quiz' | 'idle';
  lessonId: string | null;
  /** The card (0-based) or the quiz item id where they stopped. */
  card: number | null;
  itemId: string | null;
  learners: number;
}

/**
 * Per item: every answer, the first answers, and the sums of the point-biserial correlation between
 * a first answer being right (x) and the learner's rest score (y: share right of their other first
 * answers in the period), over learners with at least two first answers.
 */
export interface ItemStatRow {
  itemId: string;
  lessonId: string;
  attempts: number;
  firstTries: number;
  firstTryCorrect: number;
  n: number;
  sx: number;
  sy: number;
  sxy: number;
  syy: number;
}

/** First answers of an item by the options chosen ("1", or "0,2" on a multiple-answer item). */
export interface ItemOptionRow {
  itemId: string;
  options: string;
  count: number;
}

/** Answers to items answered before, by whole days since last seen and FSRS's prediction (to 0.01). */
export interface RecallRow {
  days: number;
  predicted: number;
  n: number;
  right: number;
}

export interface NudgeRow {
  event: NudgeEvent;
  localHour: number;
  count: number;
}

/** Team quizzes by channel and UTC day of their first answer. */
export interface TeamQuizRow {
  channel: Channel;
  day: string;
  quizzes: number;
  /** Sum over the quizzes of their players. */
  players: number;
  answers: number;
}

/** What the dashboard reads. Every method is read-only. */
export interface DashboardReads {
  learnerCounts(f: DashboardFilter): Promise<LearnerCountRow[]>;
  activityByPeriod(f: DashboardFilter, period: 'day' | 'week'): Promise<PeriodRow[]>;
  lessonFunnel(f: DashboardFilter): Promise<{ lessons: LessonFunnelRow[]; durations: DurationBucketRow[] }>;
  /** Learners seen in the filter's period whose last activity is before `silentSince`. */
  stopPoints(f: DashboardFilter, silentSince: Date): Promise<StopPointRow[]>;
  itemStats(f: DashboardFilter): Promise<{ items: ItemStatRow[]; options: ItemOptionRow[] }>;
  recallLog(f: DashboardFilter): Promise<RecallRow[]>;
  nudgeStats(f: DashboardFilter): Promise<NudgeRow[]>;
  /** Only the channel and the period apply (team answers carry no learner profile). */
  teamQuizzes(f: DashboardFilter): Promise<TeamQuizRow[]>;
}

/** The duration bucket of a number of minutes (see {@link DurationBucketRow}). */
export function durationBucket(minutes: number): number {
  const m = Math.floor(minutes);
  return m < 120 ? m : m < 4320 ? Math.floor(m / 60) * 60 : Math.floor(m / 1440) * 1440;
}
