/**
 * Activity records as both stores keep them: one flat row per record, with the learner's key and
 * the learner's language, country and organisation at the time (copied from the state being
 * committed, so that the dashboard filters without a join). Pure.
 */
import type { ActivityRecord, AnswerMode, NudgeEvent } from '../engine/activity.js';
import type { Channel } from '../messages.js';
import type { LearnerState } from '../engine/state.js';

export interface ActivityRow {
  channel: Channel;
  userId: string;
  at: Date;
  type: ActivityRecord['type'];
  lang: string;
  country: string | null;
  org: string | null;
  lessonId: string | null;
  itemId: string | null;
  mode: AnswerMode | null;
  /** Options chosen, ascending, joined with ",". */
  options: string | null;
  correct: boolean | null;
  /** First answer to the item ever (item_answered), first completion (lesson_completed). */
  first: boolean | null;
  durationMs: number | null;
  predicted: number | null;
  daysSince: number | null;
  score: number | null;
  total: number | null;
  event: NudgeEvent | null;
  localHour: number | null;
}

/** The row of one record committed with `state`. */
export function toActivityRow(channel: Channel, userId: string, state: LearnerState, r: ActivityRecord): ActivityRow {
  const row: ActivityRow = {
    channel,
    userId,
    at: new Date(r.at),
    type: r.type,
    lang: state.lang,
    country: state.country ?? null,
    org: state.org ?? null,
    lessonId: null,
    itemId: null,
    mode: null,
    options: null,
    correct: null,
    first: null,
    durationMs: null,
    predicted: null,
    daysSince: null,
    score: null,
    total: null,
    event: null,
    localHour: null,
  };
  switch (r.type) {
    case 'item_answered':
      return {
        ...row,
        lessonId: r.lessonId,
        itemId: r.itemId,
        mode: r.mode,
        options: r.options.join(','),
        correct: r.correct,
        first: r.firstTry,
        durationMs: r.durationMs,
        predicted: r.predictedRecall ?? null,
        daysSince: r.daysSinceSeen ?? null,
      };
    case 'lesson_started':
      return { ...row, lessonId: r.lessonId };
    case 'lesson_completed':
      return { ...row, lessonId: r.lessonId, score: r.correct, total: r.total, first: r.first, durationMs: r.durationMs ?? null };
    case 'nudge':
      return { ...row, event: r.event, localHour: r.localHour };
  }
}

/** The record a row holds (for /mydata). */
export function fromActivityRow(row: Pick<ActivityRow, Exclude<keyof ActivityRow, 'channel' | 'userId' | 'lang' | 'country' | 'org'>>): ActivityRecord {
  const at = new Date(row.at).toISOString();
  switch (row.type) {
    case 'item_answered':
      return {
        type: 'item_answered',
        at,
        itemId: row.itemId ?? '',
        lessonId: row.lessonId ?? '',
        mode: row.mode ?? 'lesson',
        options: row.options ? row.options.split(',').map(Number) : [],
        correct: !!row.correct,
        firstTry: !!row.first,
        durationMs: row.durationMs ?? 0,
        ...(row.predicted !== null && row.predicted !== undefined ? { predictedRecall: row.predicted } : {}),
        ...(row.daysSince !== null && row.daysSince !== undefined ? { daysSinceSeen: row.daysSince } : {}),
      };
    case 'lesson_started':
      return { type: 'lesson_started', at, lessonId: row.lessonId ?? '' };
    case 'lesson_completed':
      return {
        type: 'lesson_completed',
        at,
        lessonId: row.lessonId ?? '',
        correct: row.score ?? 0,
        total: row.total ?? 0,
        first: !!row.first,
        ...(row.durationMs !== null && row.durationMs !== undefined ? { durationMs: row.durationMs } : {}),
      };
    case 'nudge':
      return { type: 'nudge', at, event: row.event ?? 'sent', localHour: row.localHour ?? 0 };
  }
}
