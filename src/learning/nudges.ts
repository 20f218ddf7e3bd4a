/**
 * When a learner should next hear from the bot first, and what it should say. Pure: takes the
 * learner's state and `now`.
 *
 * Two kinds of nudge: the daily lesson reminder at the learner's chosen local time and days, and a
 * review nudge when items are due (at most one a day). Neither is ever sent in quiet hours (it
 * waits for their end), while snoozed, paused or stopped, or to a learner who cannot be reached.
 */
import type { LearnerState } from '../engine/state.js';
import { dueItems, reviewStatus, type ReviewStatusOptions } from './review.js';
import { atLocalTime, local, localDay, outsideQuietHours, parseHhmm, startOfNextLocalDay } from './localtime.js';

export interface NudgePolicy {
  /** Review nudges a day, at most (default 1). */
  reviewNudgesPerDay: number;
  /** No review nudge until this many items are due. */
  minDueItems: number;
  /** No nudge within this long after the learner last learned (read a card, answered an item). */
  quietAfterActivityMs: number;
  /** Nudges in a row without a reply before nudges pause themselves. */
  maxUnanswered: number;
}

export const DEFAULT_NUDGE_POLICY: NudgePolicy = { reviewNudgesPerDay: 1, minDueItems: 1, quietAfterActivityMs: 60 * 60_000, maxUnanswered: 3 };

/** Whether the learner accepts nudges at all. */
export function nudgesAllowed(s: LearnerState, policy: NudgePolicy): boolean {
  const n = s.nudges;
  return !s.stopped && !n.paused && !n.unreachable && n.unanswered < policy.maxUnanswered;
}

/** The next daily-reminder time strictly after `after`, or undefined when reminders are off. */
export function nextReminder(s: LearnerState, after: Date): Date | undefined {
  const n = s.nudges;
  const minutes = n.remindAt ? parseHhmm(n.remindAt) : undefined;
  if (minutes === undefined || !n.remindDays.length) return undefined;
  let day = local(after, n.timezone);
  for (let i = 0; i < 8; i++, day = day.plus({ days: 1 })) {
    if (!n.remindDays.includes(day.weekday % 7)) continue;
    const at = atLocalTime(day, minutes);
    if (at > after) return at;
  }
  return undefined;
}

/** Two lesson reminders are never closer than this (a snoozed one must not bring a second soon after). */
export const MIN_REMINDER_GAP_MS = 12 * 3_600_000;

/** A reminder held back (quiet hours, snooze) is still sent within this long; older ones are dropped. */
export const MAX_REMINDER_DELAY_MS = 36 * 3_600_000;

/** Reminder occurrences before this instant are spent (or predate the reminder's setting). */
function reminderFloor(s: LearnerState): number {
  const afterLast = s.nudges.lastReminderAt ? new Date(s.nudges.lastReminderAt).getTime() + MIN_REMINDER_GAP_MS : 0;
  const sinceSet = s.nudges.remindSetAt ? new Date(s.nudges.remindSetAt).getTime() : 0;
  return Math.max(afterLast, sinceSet);
}

/** The earliest time a review nudge may go out, or undefined when none is needed. */
export function nextReviewNudge(s: LearnerState, now: Date, policy: NudgePolicy): Date | undefined {
  const due = Object.values(s.reviews)
    .map((c) => c.due)
    .sort();
  const nth = due[policy.minDueItems - 1];
  if (!nth) return undefined;
  let at = new Date(Math.max(new Date(nth).getTime(), now.getTime()));
  const last = s.nudges.lastReviewNudgeAt;
  if (last && localDay(new Date(last), s.nudges.timezone) === localDay(at, s.nudges.timezone) && policy.reviewNudgesPerDay <= 1) {
    at = local(at, s.nudges.timezone).plus({ days: 1 }).startOf('day').toJSDate();
  }
  return at;
}

/** Moves a candidate time past activity, snooze and quiet hours. */
function allowedAt(s: LearnerState, at: Date, policy: NudgePolicy): Date {
  const n = s.nudges;
  let t = at.getTime();
  if (s.lastLearnedAt) t = Math.max(t, new Date(s.lastLearnedAt).getTime() + policy.quietAfterActivityMs);
  if (n.snoozedUntil) t = Math.max(t, new Date(n.snoozedUntil).getTime());
  return outsideQuietHours(new Date(t), n.timezone, n.quietStart, n.quietEnd);
}

/**
 * The reminder occurrence still owed to the learner: the first one after every occurrence already
 * served (or predating the reminder's setting), not older than {@link MAX_REMINDER_DELAY_MS}, and,
 * unless the learner snoozed it, not on a local day they already learned on (a card read or an item
 * answered satisfies that day's reminder; a command that changes settings does not).
 */
function pendingReminder(s: LearnerState, now: Date): Date | undefined {
  let after = Math.max(reminderFloor(s), now.getTime() - MAX_REMINDER_DELAY_MS);
  // Learning on a local day (a card read, an item answered) satisfies that day's reminder.
  if (!s.nudges.snoozedUntil && s.lastLearnedAt) after = Math.max(after, startOfNextLocalDay(new Date(s.lastLearnedAt), s.nudges.timezone).getTime() - 1);
  return nextReminder(s, new Date(after));
}

/** When the next daily reminder will come (quiet hours, snooze and pauses applied), or undefined when none will. */
export function nextReminderAt(s: LearnerState, now: Date, policy: NudgePolicy = DEFAULT_NUDGE_POLICY): Date | undefined {
  if (!nudgesAllowed(s, policy)) return undefined;
  const reminder = pendingReminder(s, now);
  return reminder && allowedAt(s, reminder, policy);
}

/**
 * When the learner next needs a nudge, or null. The store indexes this, so the scheduler's
 * query costs what is due now, not what is planned for later.
 */
export function nextNudgeAt(s: LearnerState, now: Date, policy: NudgePolicy = DEFAULT_NUDGE_POLICY): Date | null {
  if (!nudgesAllowed(s, policy)) return null;
  const reminder = pendingReminder(s, now);
  const review = nextReviewNudge(s, now, policy);
  const candidates = [reminder, review].filter((d): d is Date => !!d).map((d) => allowedAt(s, d, policy));
  if (!candidates.length) return null;
  return new Date(Math.min(...candidates.map((d) => d.getTime())));
}

export type NudgeKind = 'reminder' | 'review';

/**
 * What to send a learner whose nudge time has come: the reminder (with the due count folded in)
 * or a review nudge. Undefined when nothing should be sent now (settings changed, or already sent).
 */
export function nudgeDue(
  s: LearnerState,
  now: Date,
  policy: NudgePolicy = DEFAULT_NUDGE_POLICY,
  /** The course's items: only these count as due, as in /review and /progress. */
  known?: ReviewStatusOptions['known'],
): { kind: NudgeKind; dueCount: number } | undefined {
  if (!nudgesAllowed(s, policy)) return undefined;
  const dueCount = reviewStatus(s.reviews, now, { timezone: s.nudges.timezone, ...(known ? { known } : {}) }).dueNow.length;
  const reminder = pendingReminder(s, now);
  if (reminder && allowedAt(s, reminder, policy) <= now) return { kind: 'reminder', dueCount };
  const review = nextReviewNudge(s, now, policy);
  if (review && dueCount >= policy.minDueItems && allowedAt(s, review, policy) <= now) return { kind: 'review', dueCount };
  return undefined;
}

/** The state after a nudge was delivered. */
export function afterNudge(s: LearnerState, kind: NudgeKind, now: Date, jobId?: string): LearnerState {
  const nudges = { ...s.nudges, unanswered: s.nudges.unanswered + 1, lastNudgeAt: now.toISOString(), ...(jobId ? { lastNudgeJob: jobId } : {}) };
  if (kind === 'reminder') nudges.lastReminderAt = now.toISOString();
  if (kind === 'review' || dueItems(s.reviews, now).length) nudges.lastReviewNudgeAt = now.toISOString();
  delete nudges.snoozedUntil;
  return { ...s, nudges };
}

