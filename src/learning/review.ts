/**
 * Spaced repetition: every answered quiz item is an FSRS card scheduled by ts-fsrs. Pure: `now` is
 * passed in, cards are returned, nothing is mutated.
 *
 * How an answer becomes a rating:
 * - wrong: Again;
 * - right after a wrong try on the same item, or slower than {@link SLOW_MS}: Hard;
 * - right within {@link QUICK_MS} on an item answered before: Easy;
 * - any other right answer: Good.
 */
import { createEmptyCard, fsrs, generatorParameters, Rating, type Card, type FSRS, type Grade } from 'ts-fsrs';
import type { ReviewCard } from '../engine/state.js';
import { startOfNextLocalDay } from './localtime.js';

/** An answer quicker than this (on an item seen before) is rated Easy. */
export const QUICK_MS = 15_000;
/** An answer slower than this is rated Hard. */
export const SLOW_MS = 90_000;

export interface AnswerOutcome {
  correct: boolean;
  /** Milliseconds from showing the item to the answer. */
  elapsedMs: number;
  /** Wrong tries on this item just before this answer. */
  wrongTries: number;
}

/** Maps an answer to an FSRS rating (see the module comment). */
export function ratingFor(outcome: AnswerOutcome, seenBefore: boolean): Grade {
  if (!outcome.correct) return Rating.Again;
  if (outcome.wrongTries > 0 || outcome.elapsedMs > SLOW_MS) return Rating.Hard;
  if (seenBefore && outcome.elapsedMs <= QUICK_MS) return Rating.Easy;
  return Rating.Good;
}

const schedulers = new Map<number, FSRS>();
function scheduler(retention: number): FSRS {
  let f = schedulers.get(retention);
  if (!f) {
    f = fsrs(generatorParameters({ request_retention: retention, enable_fuzz: false }));
    schedulers.set(retention, f);
  }
  return f;
}

function toCard(c: ReviewCard | undefined, now: Date): Card {
  if (!c) return createEmptyCard(now);
  return {
    due: new Date(c.due),
    stability: c.stability,
    difficulty: c.difficulty,
    elapsed_days: c.elapsed_days,
    scheduled_days: c.scheduled_days,
    learning_steps: c.learning_steps,
    reps: c.reps,
    lapses: c.lapses,
    state: c.state,
    ...(c.last_review ? { last_review: new Date(c.last_review) } : {}),
  };
}

/** Schedules an item after an answer; returns the new card. */
export function scheduleAnswer(prev: ReviewCard | undefined, outcome: AnswerOutcome, now: Date, retention: number): ReviewCard {
  const rating = ratingFor(outcome, (prev?.seen ?? 0) > 0);
  const { card } = scheduler(retention).next(toCard(prev, now), now, rating);
  return {
    due: card.due.toISOString(),
    stability: card.stability,
    difficulty: card.difficulty,
    elapsed_days: card.elapsed_days,
    scheduled_days: card.scheduled_days,
    learning_steps: card.learning_steps,
    reps: card.reps,
    lapses: card.lapses,
    state: card.state,
    ...(card.last_review ? { last_review: card.last_review.toISOString() } : {}),
    seen: (prev?.seen ?? 0) + 1,
    right: (prev?.right ?? 0) + (outcome.correct ? 1 : 0),
    ...(outcome.correct ? {} : { wrongTries: outcome.wrongTries + 1 }),
  };
}

/** Item ids due at `now`, most overdue first. */
export function dueItems(reviews: Record<string, ReviewCard>, now: Date): string[] {
  return Object.entries(reviews)
    .filter(([, c]) => new Date(c.due) <= now)
    .sort(([, a], [, b]) => a.due.localeCompare(b.due))
    .map(([id]) => id);
}

/** Number of items that fall due in [now, until). Due items count too. */
export function dueBy(reviews: Record<string, ReviewCard>, until: Date): number {
  return Object.values(reviews).filter((c) => new Date(c.due) < until).length;
}

/** The earliest due date of all cards, if any. */
export function nextDue(reviews: Record<string, ReviewCard>): Date | undefined {
  let min: string | undefined;
  for (const c of Object.values(reviews)) if (!min || c.due < min) min = c.due;
  return min ? new Date(min) : undefined;
}

/** Mean probability of recall across the learner's cards at `now` (FSRS retrievability), or undefined. */
export function estimatedRetention(reviews: Record<string, ReviewCard>, now: Date, retention: number): number | undefined {
  const cards = Object.values(reviews);
  if (!cards.length) return undefined;
  const f = scheduler(retention);
  const sum = cards.reduce((s, c) => s + f.get_retrievability(toCard(c, now), now, false), 0);
  return sum / cards.length;
}

/** Where a learner's reviews stand: the one computation behind /progress, /review, nudges and App Home. */
export interface ReviewStatus {
  /** Items due now, most overdue first: what /review serves. */
  dueNow: string[];
  /** Items not due yet that fall due before the end of the learner's local day. */
  laterToday: number;
  /** Items due now or before the end of the sixth local day after today (the next 7 days). */
  nextSevenDays: number;
  /** When the earliest item not yet due falls due. */
  nextDue?: Date;
  /**
   * Mean probability of recall (FSRS retrievability), only once it says something: when at least
   * one item was last answered a day or more ago. Right after a lesson every item is at 100%.
   */
  retention?: number;
}

export interface ReviewStatusOptions {
  /** The learner's IANA time zone, for "today". */
  timezone: string;
  /** FSRS desired retention (default 0.9); only the retention estimate depends on it. */
  retention?: number;
  /** Only items the course still has count (a lesson may have been removed). */
  known?: { has(id: string): boolean };
}

/** Counts due items and estimates retention, the same way for every view. */
export function reviewStatus(reviews: Record<string, ReviewCard>, now: Date, opts: ReviewStatusOptions): ReviewStatus {
  const cards = Object.fromEntries(Object.entries(reviews).filter(([id]) => !opts.known || opts.known.has(id)));
  const dueNow = dueItems(cards, now);
  const endOfDay = startOfNextLocalDay(now, opts.timezone);
  const weekEnd = new Date(endOfDay.getTime() + 6 * 86_400_000);
  const later = Object.fromEntries(Object.entries(cards).filter(([, c]) => new Date(c.due) > now));
  const aDayAgo = now.getTime() - 86_400_000;
  const settled = Object.values(cards).some((c) => c.last_review && new Date(c.last_review).getTime() <= aDayAgo);
  const retention = settled ? estimatedRetention(cards, now, opts.retention ?? 0.9) : undefined;
  const nextDueAt = nextDue(later);
  return {
    dueNow,
    laterToday: dueBy(later, endOfDay),
    nextSevenDays: dueBy(cards, weekEnd),
    ...(nextDueAt ? { nextDue: nextDueAt } : {}),
    ...(retention !== undefined ? { retention } : {}),
  };
}

/** FSRS's predicted probability of recalling an item at `now` (its retrievability). */
export function recallProbability(card: ReviewCard, now: Date, retention: number): number {
  return scheduler(retention).get_retrievability(toCard(card, now), now, false);
}
