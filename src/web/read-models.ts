/**
 * The dashboard's read models: the store's raw aggregates (through the store contract, so both
 * stores give the same numbers) turned into the tables the pages and the CSV exports show. Pure
 * apart from the store reads; nothing here writes.
 *
 * Privacy: a group of fewer than {@link MIN_GROUP} learners is never shown on its own. When the
 * filtered population itself is smaller, every model says `suppressed` and shows nothing; in
 * breakdowns (by channel, language, country, organisation, stop point) smaller groups are merged
 * into one "other" row.
 *
 * ```ts
 * const funnel = await lessonFunnel(store, course, { from, to, channel: 'telegram' }, now);
 * ```
 */
import type { Course, QuizItem } from '../content/course.js';
import { correctIndices } from '../content/course.js';
import type { DashboardFilter, DashboardReads, ItemOptionRow, LearnerCountRow, PeriodRow, RecallRow, TeamQuizRow } from '../store/dashboard.js';
import { NUDGE_EVENTS, type NudgeEvent } from '../engine/activity.js';

/** Groups smaller than this are not shown on their own. */
export const MIN_GROUP = 5;

/** Learners silent this long are counted where they stopped. */
export const SILENCE_DAYS = 7;

/** The thresholds for flagging an item. */
export interface ItemFlagOptions {
  /** First answers needed before an item is judged. */
  minFirstTries: number;
  /** A first-try rate at or above this: nearly everyone gets it right. */
  easyRate: number;
  /** A first-try rate at or below this: nearly everyone gets it wrong. */
  hardRate: number;
  /** A discrimination below this is flagged (a little below 0 is often sampling noise). */
  negativeBelow: number;
}

export const DEFAULT_ITEM_FLAGS: ItemFlagOptions = { minFirstTries: 20, easyRate: 0.95, hardRate: 0.2, negativeBelow: -0.1 };

// ---- Population and overview ----

export interface Breakdown {
  /** The group's value; null for "not given"; "*other*" for the merged small groups. */
  value: string | null;
  learners: number;
}

export const OTHER = '*other*';

/** Counts by one dimension, with groups under {@link MIN_GROUP} merged into one {@link OTHER} row. */
export function breakdown(rows: LearnerCountRow[], dim: 'channel' | 'lang' | 'country' | 'org'): Breakdown[] {
  const counts = new Map<string | null, number>();
  for (const r of rows) counts.set(r[dim], (counts.get(r[dim]) ?? 0) + r.learners);
  const shown: Breakdown[] = [];
  let other = 0;
  for (const [value, learners] of counts) {
    if (learners >= MIN_GROUP) shown.push({ value, learners });
    else other += learners;
  }
  shown.sort((a, b) => b.learners - a.learners || String(a.value).localeCompare(String(b.value)));
  if (other) shown.push({ value: OTHER, learners: other });
  return shown;
}

export interface Overview {
  learners: number;
  suppressed: boolean;
  byChannel: Breakdown[];
  byLang: Breakdown[];
  byCountry: Breakdown[];
  byOrg: Breakdown[];
  daily: PeriodRow[];
  weekly: PeriodRow[];
}

export async function overview(store: DashboardReads, f: DashboardFilter): Promise<Overview> {
  const counts = await store.learnerCounts(f);
  const learners = counts.reduce((n, r) => n + r.learners, 0);
  if (learners < MIN_GROUP) return { learners, suppressed: true, byChannel: [], byLang: [], byCountry: [], byOrg: [], daily: [], weekly: [] };
  const [daily, weekly] = await Promise.all([store.activityByPeriod(f, 'day'), store.activityByPeriod(f, 'week')]);
  return {
    learners,
    suppressed: false,
    byChannel: breakdown(counts, 'channel'),
    byLang: breakdown(counts, 'lang'),
    byCountry: breakdown(counts, 'country'),
    byOrg: breakdown(counts, 'org'),
    daily: fillDays(daily, f),
    weekly,
  };
}

/** Every day of the period, with zeros where nothing happened (so that a chart's gaps show). */
function fillDays(rows: PeriodRow[], f: DashboardFilter): PeriodRow[] {
  const byDay = new Map(rows.map((r) => [r.period, r]));
  const out: PeriodRow[] = [];
  const start = Math.floor(f.from.getTime() / 86_400_000);
  const end = Math.ceil(f.to.getTime() / 86_400_000);
  if (end - start > 400) return rows;
  for (let d = start; d < end; d++) {
    const period = new Date(d * 86_400_000).toISOString().slice(0, 10);
    out.push(byDay.get(period) ?? { period, learners: 0, lessonsCompleted: 0, answers: 0 });
  }
  return out;
}

/** The values of a dimension that may be offered as filters: those with at least {@link MIN_GROUP} learners. */
export async function filterOptions(store: DashboardReads, f: DashboardFilter): Promise<{ countries: string[]; orgs: string[] }> {
  const counts = await store.learnerCounts({ from: f.from, to: f.to });
  const pick = (dim: 'country' | 'org') =>
    breakdown(counts, dim)
      .map((b) => b.value)
      .filter((v): v is string => v !== null && v !== OTHER)
      .sort();
  return { countries: pick('country'), orgs: pick('org') };
}

// ---- Funnel ----

export interface FunnelRow {
  moduleId: string;
  lessonId: string;
  title: string;
  started: number;
  completed: number;
  /** completed / started, or null when fewer than MIN_GROUP started. */
  completionRate: number | null;
  /** Mean share right on first completion, or null under MIN_GROUP completions. */
  firstTryScore: number | null;
  /** Median minutes from first start to first completion (a bucket's lower bound), or null. */
  medianMinutes: number | null;
}

export interface StopRow {
  kind: 'card' | 'quiz' | 'idle' | 'other';
  lessonId: string | null;
  title: string | null;
  /** 1-based card number, or null. */
  card: number | null;
  cards: number | null;
  itemId: string | null;
  learners: number;
}

export interface Funnel {
  suppressed: boolean;
  lessons: FunnelRow[];
  stops: StopRow[];
}

/** The median of a histogram of buckets (lower bounds): the bucket where half the counts are reached. */
export function medianOfBuckets(buckets: { minutes: number; count: number }[]): number | null {
  const total = buckets.reduce((n, b) => n + b.count, 0);
  if (!total) return null;
  let seen = 0;
  for (const b of [...buckets].sort((a, c) => a.minutes - c.minutes)) {
    seen += b.count;
    if (seen * 2 >= total) return b.minutes;
  }
  return null;
}

export async function lessonFunnel(store: DashboardReads, course: Course, f: DashboardFilter, now: Date): Promise<Funnel> {
  const population = (await store.learnerCounts(f)).reduce((n, r) => n + r.learners, 0);
  if (population < MIN_GROUP) return { suppressed: true, lessons: [], stops: [] };
  const silentSince = new Date(Math.min(now.getTime(), f.to.getTime()) - SILENCE_DAYS * 86_400_000);
  const [{ lessons, durations }, stops] = await Promise.all([store.lessonFunnel(f), store.stopPoints(f, silentSince)]);
  const byLesson = new Map(lessons.map((l) => [l.lessonId, l]));
  const rows: FunnelRow[] = course.sequence.map((lesson) => {
    const l = byLesson.get(lesson.id);
    const started = l?.started ?? 0;
    const completed = l?.completed ?? 0;
    return {
      moduleId: lesson.moduleId,
      lessonId: lesson.id,
      title: lesson.title,
      started,
      completed,
      completionRate: started >= MIN_GROUP ? Math.min(1, completed / started) : null,
      firstTryScore: completed >= MIN_GROUP && l && l.firstScoreTotal ? l.firstScoreSum / l.firstScoreTotal : null,
      medianMinutes: completed >= MIN_GROUP ? medianOfBuckets(durations.filter((d) => d.lessonId === lesson.id)) : null,
    };
  });
  const stopRows: StopRow[] = [];
  let other = 0;
  for (const s of stops) {
    if (s.learners < MIN_GROUP) {
      other += s.learners;
      continue;
    }
    const lesson = s.lessonId ? course.lessons.get(s.lessonId) : undefined;
    stopRows.push({
      kind: s.kind,
      lessonId: s.lessonId,
      title: lesson?.title ?? null,
      card: s.card === null ? null : s.card + 1,
      cards: lesson ? lesson.cards.length : null,
      itemId: s.itemId,
      learners: s.learners,
    });
  }
  stopRows.sort((a, b) => b.learners - a.learners);
  if (other) stopRows.push({ kind: 'other', lessonId: null, title: null, card: null, cards: null, itemId: null, learners: other });
  return { suppressed: false, lessons: rows, stops: stopRows };
}

// ---- Items ----

export type ItemFlag = 'negative_discrimination' | 'wrong_option_preferred' | 'too_hard' | 'too_easy';

/** The order an author should fix flags in: the most misleading first. */
export const FLAG_ORDER: ItemFlag[] = ['negative_discrimination', 'wrong_option_preferred', 'too_hard', 'too_easy'];

export interface ItemRow {
  itemId: string;
  lessonId: string;
  lessonTitle: string;
  question: string;
  /** Where the item is written: lesson file and line of its "## quiz" heading. */
  file: string | null;
  line: number | null;
  attempts: number;
  firstTries: number;
  firstTryRate: number | null;
  /** The most chosen wrong option on first answers ("B", or "A+C"), its count and share. */
  topWrong: { option: string; count: number; share: number } | null;
  rightOption: string;
  rightCount: number;
  /** Point-biserial correlation of a right first answer with the learner's rest score; null when undefined. */
  discrimination: number | null;
  flags: ItemFlag[];
}

/** Pearson's correlation from sums (x is 0 or 1, so Σx² = Σx); null when either variable is constant. */
export function pointBiserial(s: { n: number; sx: number; sy: number; sxy: number; syy: number }): number | null {
  const { n, sx, sy, sxy, syy } = s;
  // (population variances times n²; x is 0 or 1)
  const vx = n * sx - sx * sx;
  const vy = n * syy - sy * sy;
  if (n < 2 || vx <= 1e-12 || vy <= 1e-12) return null;
  return (n * sxy - sx * sy) / Math.sqrt(vx * vy);
}

/** "A", or "A+C" for several options. */
export function optionLabel(options: string): string {
  return options
    .split(',')
    .filter(Boolean)
    .map((o) => String.fromCharCode(65 + Number(o)))
    .join('+');
}

function flagsFor(row: Omit<ItemRow, 'flags'>, opts: ItemFlagOptions): ItemFlag[] {
  if (row.firstTries < opts.minFirstTries || row.firstTryRate === null) return [];
  const flags: ItemFlag[] = [];
  if (row.discrimination !== null && row.discrimination < opts.negativeBelow) flags.push('negative_discrimination');
  if (row.topWrong && row.topWrong.count > row.rightCount) flags.push('wrong_option_preferred');
  if (row.firstTryRate <= opts.hardRate) flags.push('too_hard');
  if (row.firstTryRate >= opts.easyRate) flags.push('too_easy');
  return flags;
}

export interface ItemAnalysis {
  suppressed: boolean;
  items: ItemRow[];
  /** Flagged items, the one to fix first first. */
  flagged: ItemRow[];
}

export async function itemAnalysis(store: DashboardReads, course: Course, f: DashboardFilter, opts: ItemFlagOptions = DEFAULT_ITEM_FLAGS): Promise<ItemAnalysis> {
  const population = (await store.learnerCounts(f)).reduce((n, r) => n + r.learners, 0);
  if (population < MIN_GROUP) return { suppressed: true, items: [], flagged: [] };
  const { items, options } = await store.itemStats(f);
  const optionsByItem = new Map<string, ItemOptionRow[]>();
  for (const o of options) optionsByItem.set(o.itemId, [...(optionsByItem.get(o.itemId) ?? []), o]);
  const rows: ItemRow[] = [];
  for (const s of items) {
    const item: QuizItem | undefined = course.items.get(s.itemId);
    // Items removed from the course since are left out: there is nothing left to fix.
    if (!item) continue;
    const lesson = course.lessons.get(item.lessonId);
    const right = correctIndices(item).join(',');
    const chosen = optionsByItem.get(s.itemId) ?? [];
    const rightCount = chosen.find((o) => o.options === right)?.count ?? 0;
    const wrong = chosen.filter((o) => o.options !== right).sort((a, b) => b.count - a.count)[0];
    const base = {
      itemId: s.itemId,
      lessonId: item.lessonId,
      lessonTitle: lesson?.title ?? item.lessonId,
      question: item.question,
      file: lesson?.source?.file ?? null,
      line: item.line ?? null,
      attempts: s.attempts,
      firstTries: s.firstTries,
      firstTryRate: s.firstTries >= MIN_GROUP ? s.firstTryCorrect / s.firstTries : null,
      topWrong: wrong && s.firstTries >= MIN_GROUP ? { option: optionLabel(wrong.options), count: wrong.count, share: wrong.count / s.firstTries } : null,
      rightOption: optionLabel(right),
      rightCount,
      discrimination: pointBiserial(s),
    };
    rows.push({ ...base, flags: flagsFor(base, opts) });
  }
  const order = new Map(course.sequence.flatMap((l) => l.items).map((i, n) => [i.id, n]));
  rows.sort((a, b) => (order.get(a.itemId) ?? 0) - (order.get(b.itemId) ?? 0));
  const rank = (r: ItemRow) => Math.min(...r.flags.map((fl) => FLAG_ORDER.indexOf(fl)));
  const flagged = rows.filter((r) => r.flags.length).sort((a, b) => rank(a) - rank(b) || b.flags.length - a.flags.length || b.firstTries - a.firstTries);
  return { suppressed: false, items: rows, flagged };
}

// ---- Retention and calibration ----

/** Day bins for "days since last seen": [from, to) in days. */
export const DAY_BINS: { from: number; to: number; label: string }[] = [
  { from: 0, to: 1, label: '0' },
  { from: 1, to: 2, label: '1' },
  { from: 2, to: 4, label: '2-3' },
  { from: 4, to: 8, label: '4-7' },
  { from: 8, to: 15, label: '8-14' },
  { from: 15, to: 31, label: '15-30' },
  { from: 31, to: 61, label: '31-60' },
  { from: 61, to: Infinity, label: '61+' },
];

export interface RetentionBin {
  label: string;
  reviews: number;
  /** Share answered right, or null when empty. */
  observed: number | null;
  /** Mean FSRS predicted recall of the same answers. */
  predicted: number | null;
}

export interface Calibration {
  reviews: number;
  /** Mean binary cross-entropy of the predictions (lower is better; 0.693 is a coin toss). */
  logLoss: number | null;
  /** Root mean square gap between predicted and observed recall over 20 prediction bins, weighted by reviews. */
  rmse: number | null;
}

export interface Retention {
  suppressed: boolean;
  bins: RetentionBin[];
  calibration: Calibration;
}

const clampP = (p: number) => Math.min(1 - 1e-4, Math.max(1e-4, p));

/** Log loss and RMSE (bins) of predicted recall against what happened, from grouped answers. */
export function calibration(rows: RecallRow[]): Calibration {
  const reviews = rows.reduce((n, r) => n + r.n, 0);
  if (!reviews) return { reviews, logLoss: null, rmse: null };
  let loss = 0;
  const bins = new Map<number, { n: number; p: number; y: number }>();
  for (const r of rows) {
    // Predictions are probabilities; a store never holds others, but a bad one must not skew the bins.
    const p = clampP(r.predicted);
    loss -= r.right * Math.log(p) + (r.n - r.right) * Math.log(1 - p);
    const b = Math.min(19, Math.floor(p * 20));
    const bin = bins.get(b) ?? { n: 0, p: 0, y: 0 };
    bin.n += r.n;
    bin.p += p * r.n;
    bin.y += r.right;
    bins.set(b, bin);
  }
  let sq = 0;
  for (const b of bins.values()) sq += b.n * (b.p / b.n - b.y / b.n) ** 2;
  return { reviews, logLoss: loss / reviews, rmse: Math.sqrt(sq / reviews) };
}

export function retentionBins(rows: RecallRow[]): RetentionBin[] {
  return DAY_BINS.map((bin) => {
    const inBin = rows.filter((r) => r.days >= bin.from && r.days < bin.to);
    const n = inBin.reduce((s, r) => s + r.n, 0);
    return {
      label: bin.label,
      reviews: n,
      observed: n ? inBin.reduce((s, r) => s + r.right, 0) / n : null,
      predicted: n ? inBin.reduce((s, r) => s + r.predicted * r.n, 0) / n : null,
    };
  });
}

export async function retention(store: DashboardReads, f: DashboardFilter): Promise<Retention> {
  const population = (await store.learnerCounts(f)).reduce((n, r) => n + r.learners, 0);
  if (population < MIN_GROUP) return { suppressed: true, bins: [], calibration: { reviews: 0, logLoss: null, rmse: null } };
  const rows = await store.recallLog(f);
  return { suppressed: false, bins: retentionBins(rows), calibration: calibration(rows) };
}

// ---- Reminders ----

export type HourRow = { hour: number } & Record<NudgeEvent, number>;

export interface Reminders {
  suppressed: boolean;
  totals: Record<NudgeEvent, number>;
  /** Share of nudges sent that were answered within an hour. */
  answeredRate: number | null;
  byHour: HourRow[];
}

export async function reminders(store: DashboardReads, f: DashboardFilter): Promise<Reminders> {
  const zero = () => Object.fromEntries(NUDGE_EVENTS.map((e) => [e, 0])) as Record<NudgeEvent, number>;
  const population = (await store.learnerCounts(f)).reduce((n, r) => n + r.learners, 0);
  if (population < MIN_GROUP) return { suppressed: true, totals: zero(), answeredRate: null, byHour: [] };
  const rows = await store.nudgeStats(f);
  const totals = zero();
  const byHour: HourRow[] = Array.from({ length: 24 }, (_, hour) => ({ hour, ...zero() }));
  for (const r of rows) {
    totals[r.event] += r.count;
    const h = byHour[r.localHour];
    if (h) h[r.event] += r.count;
  }
  return { suppressed: false, totals, answeredRate: totals.sent ? Math.min(1, totals.answered / totals.sent) : null, byHour };
}

// ---- Team quizzes ----

export interface TeamQuizzes {
  quizzes: number;
  playersPerQuiz: number | null;
  byChannel: { channel: string; quizzes: number; players: number; playersPerQuiz: number | null }[];
  byDay: TeamQuizRow[];
}

export async function teamQuizzes(store: DashboardReads, f: DashboardFilter): Promise<TeamQuizzes> {
  const rows = await store.teamQuizzes(f);
  const quizzes = rows.reduce((n, r) => n + r.quizzes, 0);
  const players = rows.reduce((n, r) => n + r.players, 0);
  const channels = new Map<string, { quizzes: number; players: number }>();
  for (const r of rows) {
    const c = channels.get(r.channel) ?? { quizzes: 0, players: 0 };
    c.quizzes += r.quizzes;
    c.players += r.players;
    channels.set(r.channel, c);
  }
  return {
    quizzes,
    playersPerQuiz: quizzes ? players / quizzes : null,
    byChannel: [...channels].map(([channel, c]) => ({ channel, ...c, playersPerQuiz: c.quizzes ? c.players / c.quizzes : null })),
    byDay: rows,
  };
}
