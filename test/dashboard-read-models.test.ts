/**
 * The dashboard's read models on seeded data with known answers: item statistics and flags, the
 * funnel (median time, stop points, small-group suppression), retention bins and calibration. On
 * the embedded store always, and on MongoDB when MONGODB_URI is set.
 */
import { describe, expect, it } from 'vitest';
import type { ActivityRecord } from '../src/engine/activity.js';
import { newLearnerState, type Position } from '../src/engine/state.js';
import type { Channel } from '../src/messages.js';
import { MongoStore } from '../src/store/mongo.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { Store } from '../src/store/store.js';
import {
  breakdown,
  calibration,
  itemAnalysis,
  lessonFunnel,
  medianOfBuckets,
  overview,
  pointBiserial,
  reminders,
  retention,
  retentionBins,
} from '../src/web/read-models.js';
import { toCsv, buildPage } from '../src/web/pages.js';
import { fixtureCourse } from './helpers.js';

const course = fixtureCourse();
const DAY = 86_400_000;

describe('read-model arithmetic', () => {
  it('computes the point-biserial correlation as Pearson\'s r would', () => {
    const pearson = (x: number[], y: number[]) => {
      const mx = x.reduce((a, b) => a + b) / x.length;
      const my = y.reduce((a, b) => a + b) / y.length;
      const cov = x.reduce((s, xi, i) => s + (xi - mx) * (y[i]! - my), 0);
      return cov / Math.sqrt(x.reduce((s, xi) => s + (xi - mx) ** 2, 0) * y.reduce((s, yi) => s + (yi - my) ** 2, 0));
    };
    const sums = (x: number[], y: number[]) => ({ n: x.length, sx: x.reduce((a, b) => a + b), sy: y.reduce((a, b) => a + b), sxy: x.reduce((s, xi, i) => s + xi * y[i]!, 0), syy: y.reduce((s, yi) => s + yi * yi, 0) });
    const x = [1, 1, 0, 0, 1];
    const y = [1, 0.8, 0.2, 0, 0.4];
    expect(pointBiserial(sums(x, y))).toBeCloseTo(pearson(x, y), 12);
    expect(pointBiserial(sums([1, 1, 0, 0], [0, 0.1, 0.9, 1]))!).toBeLessThan(-0.9);
    // Everyone right: no variance, no correlation.
    expect(pointBiserial(sums([1, 1, 1], [0.2, 0.5, 0.9]))).toBeNull();
  });

  it('computes log loss and RMSE over prediction bins from grouped reviews', () => {
    const rows = [
      { days: 1, predicted: 0.9, n: 10, right: 9 },
      { days: 5, predicted: 0.5, n: 4, right: 1 },
    ];
    const c = calibration(rows);
    expect(c.reviews).toBe(14);
    expect(c.logLoss).toBeCloseTo(-(9 * Math.log(0.9) + Math.log(0.1) + 4 * Math.log(0.5)) / 14, 12);
    // Bin 0.90-0.95: predicted 0.9, observed 0.9; bin 0.50-0.55: predicted 0.5, observed 0.25.
    expect(c.rmse).toBeCloseTo(Math.sqrt((4 * 0.25 ** 2) / 14), 12);
    expect(calibration([])).toEqual({ reviews: 0, logLoss: null, rmse: null });
    const bins = retentionBins([...rows, { days: 40, predicted: 0.3, n: 2, right: 0 }]);
    expect(bins.map((b) => [b.label, b.reviews, b.observed, b.predicted])).toEqual([
      ['0', 0, null, null],
      ['1', 10, 0.9, 0.9],
      ['2-3', 0, null, null],
      ['4-7', 4, 0.25, 0.5],
      ['8-14', 0, null, null],
      ['15-30', 0, null, null],
      ['31-60', 2, 0, 0.3],
      ['61+', 0, null, null],
    ]);
  });

  it('takes the median of a histogram, and merges groups under 5 into one row', () => {
    expect(medianOfBuckets([{ minutes: 10, count: 1 }, { minutes: 5, count: 1 }, { minutes: 200, count: 1 }])).toBe(10);
    expect(medianOfBuckets([{ minutes: 5, count: 2 }, { minutes: 9, count: 2 }])).toBe(5);
    expect(medianOfBuckets([])).toBeNull();
    const rows = [
      { channel: 'telegram' as Channel, lang: 'en', country: 'NP', org: null, learners: 7 },
      { channel: 'slack' as Channel, lang: 'en', country: 'FJ', org: null, learners: 3 },
      { channel: 'teams' as Channel, lang: 'fr', country: 'HT', org: null, learners: 1 },
    ];
    expect(breakdown(rows, 'country')).toEqual([
      { value: 'NP', learners: 7 },
      { value: '*other*', learners: 4 },
    ]);
    expect(breakdown(rows, 'lang')).toEqual([{ value: 'en', learners: 10 }, { value: '*other*', learners: 1 }]);
  });

  it('quotes CSV cells and defuses spreadsheet formulas', () => {
    const csv = toCsv({
      name: 't',
      title: 'T',
      columns: [
        { header: 'Name', value: (r: { a: string; b: number }) => r.a },
        { header: 'Value', value: (r: { a: string; b: number }) => r.b },
      ],
      rows: [{ a: 'Ministry, "ICT"', b: -0.25 }, { a: '=HYPERLINK("x")', b: 3 }],
    } as never);
    expect(csv).toBe('Name,Value\r\n"Ministry, ""ICT""",-0.25\r\n"\'=HYPERLINK(""x"")",3\r\n');
  });
});

function readModels(name: string, open: () => Promise<Store>): void {
  describe(`${name}: dashboard read models on seeded data`, () => {
    const W0 = new Date(Date.UTC(2029, 5, 4) + Math.floor(Math.random() * 1000) * 7 * DAY);
    const at = (d: number, minutes = 0) => new Date(W0.getTime() + d * DAY + minutes * 60_000).toISOString();
    const filter = { from: new Date(W0.getTime()), to: new Date(W0.getTime() + 60 * DAY) };
    const tag = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

    async function learner(store: Store, n: number, activity: ActivityRecord[], opts: { channel?: Channel; position?: Position; lastSeen?: number } = {}) {
      const channel = opts.channel ?? 'telegram';
      const key = { channel, userId: `rm-${tag}-${n}` };
      const state = { ...newLearnerState(new Date(W0), 'en'), lastSeenAt: at(opts.lastSeen ?? 1), ...(opts.position ? { position: opts.position } : {}) };
      await store.commitLearner({ key, expectedVersion: 0, state, address: { channel, conversationId: key.userId, kind: 'direct' }, nudgeAt: null, now: new Date(W0), activity });
    }
    const answer = (itemId: string, option: number, correct: boolean, extra: Partial<Extract<ActivityRecord, { type: 'item_answered' }>> = {}): ActivityRecord => ({
      type: 'item_answered',
      at: at(0, 5),
      itemId,
      lessonId: course.items.get(itemId)!.lessonId,
      mode: 'lesson',
      options: [option],
      correct,
      firstTry: true,
      durationMs: 5000,
      ...extra,
    });

    it('flags the items to fix, worst first, and reports their file and line', async () => {
      const store = await open();
      try {
        // l1-q1 (right: B = 1): strong learners (right elsewhere) get it wrong, weak ones right.
        // l1-q2 (true/false, right: True = 0): most choose the wrong option.
        // l2-q1 (right: B = 1): everyone right.
        const strong = (n: number) => learner(store, n, [answer('l1-q1', 0, false), answer('l1-q2', 0, true), answer('l2-q1', 1, true), answer('l2-q2', 0, true)]);
        const weak = (n: number) => learner(store, n, [answer('l1-q1', 1, true), answer('l1-q2', 1, false), answer('l2-q1', 1, true), answer('l2-q2', 1, false)]);
        for (let n = 0; n < 4; n++) await strong(n);
        for (let n = 4; n < 10; n++) await weak(n);
        const a = await itemAnalysis(store, course, filter, { minFirstTries: 5, easyRate: 0.95, hardRate: 0.2, negativeBelow: -0.1 });
        expect(a.suppressed).toBe(false);
        const q1 = a.items.find((i) => i.itemId === 'l1-q1')!;
        expect(q1).toMatchObject({ attempts: 10, firstTries: 10, firstTryRate: 0.6, rightOption: 'B', topWrong: { option: 'A', count: 4, share: 0.4 }, file: 'test/fixtures/course/m1/01-l1.md' });
        expect(q1.line).toBeGreaterThan(1);
        expect(q1.discrimination!).toBeLessThan(-0.9);
        const q2 = a.items.find((i) => i.itemId === 'l1-q2')!;
        expect(q2).toMatchObject({ firstTryRate: 0.4, rightOption: 'A', topWrong: { option: 'B', count: 6 }, rightCount: 4 });
        expect(a.flagged.map((i) => [i.itemId, i.flags])).toEqual([
          ['l1-q1', ['negative_discrimination']],
          ['l1-q2', ['wrong_option_preferred']],
          ['l2-q2', ['wrong_option_preferred']],
          ['l2-q1', ['too_easy']],
        ]);
        // The same population through a filter on another channel: nobody, so nothing is shown.
        expect((await itemAnalysis(store, course, { ...filter, channel: 'teams' })).suppressed).toBe(true);
      } finally {
        await store.close();
      }
    });

    it('gives the funnel with completion, first-try score and median time, and where silent learners stopped', async () => {
      const store = await open();
      try {
        const done = (d: number, correct: number, minutes: number): ActivityRecord => ({ type: 'lesson_completed', at: at(d), lessonId: 'l1', correct, total: 4, first: true, durationMs: minutes * 60_000 });
        const start: ActivityRecord = { type: 'lesson_started', at: at(0), lessonId: 'l1' };
        const card: Position = { kind: 'card', lessonId: 'l2', index: 1 };
        for (let n = 0; n < 5; n++) await learner(store, n, [start, done(0, 3, 4 + n)], { position: card, lastSeen: 2 });
        for (let n = 5; n < 8; n++) await learner(store, n, [start], { lastSeen: 30 });
        const f = await lessonFunnel(store, course, filter, new Date(W0.getTime() + 31 * DAY));
        const l1 = f.lessons.find((l) => l.lessonId === 'l1')!;
        expect(l1).toMatchObject({ started: 8, completed: 5, completionRate: 5 / 8, firstTryScore: 0.75, medianMinutes: 6 });
        // Too few to show rates for l2 (nobody started it here).
        expect(f.lessons.find((l) => l.lessonId === 'l2')).toMatchObject({ started: 0, completionRate: null, medianMinutes: null });
        expect(f.stops).toEqual([{ kind: 'card', lessonId: 'l2', title: 'Lesson two', card: 2, cards: 3, itemId: null, learners: 5 }]);
        // Filtered to fewer than 5 learners, nothing is shown.
        expect((await lessonFunnel(store, course, { ...filter, from: new Date(W0.getTime() + 20 * DAY) }, new Date(W0.getTime() + 31 * DAY))).suppressed).toBe(true);
      } finally {
        await store.close();
      }
    });

    it('gives retention bins beside predicted recall, calibration, reminders and an overview', async () => {
      const store = await open();
      try {
        const review = (right: boolean, predicted: number, days: number): ActivityRecord => answer('l1-q1', right ? 1 : 0, right, { mode: 'review', firstTry: false, predictedRecall: predicted, daysSinceSeen: days });
        for (let n = 0; n < 5; n++)
          await learner(store, n, [
            review(true, 0.9, 1.2),
            review(n < 4, 0.9, 1.5),
            review(n < 2, 0.5, 9),
            { type: 'nudge', at: at(1), event: 'sent', localHour: 8 },
            ...(n < 2 ? [{ type: 'nudge' as const, at: at(1, 30), event: 'answered' as const, localHour: 8 }] : []),
          ]);
        const r = await retention(store, filter);
        expect(r.bins.find((b) => b.label === '1')).toEqual({ label: '1', reviews: 10, observed: 0.9, predicted: 0.9 });
        expect(r.bins.find((b) => b.label === '8-14')).toEqual({ label: '8-14', reviews: 5, observed: 0.4, predicted: 0.5 });
        expect(r.calibration.reviews).toBe(15);
        expect(r.calibration.logLoss).toBeCloseTo(-(9 * Math.log(0.9) + Math.log(0.1) + 2 * Math.log(0.5) + 3 * Math.log(0.5)) / 15, 6);
        expect(r.calibration.rmse).toBeCloseTo(Math.sqrt((5 * 0.1 ** 2) / 15), 6);
        const m = await reminders(store, filter);
        expect(m.totals).toMatchObject({ sent: 5, answered: 2, snoozed: 0 });
        expect(m.answeredRate).toBe(0.4);
        expect(m.byHour[8]).toMatchObject({ sent: 5, answered: 2 });
        const o = await overview(store, filter);
        expect(o.learners).toBe(5);
        expect(o.byChannel).toEqual([{ value: 'telegram', learners: 5 }]);
        expect(o.daily.find((d) => d.period === at(0).slice(0, 10))).toMatchObject({ learners: 5, answers: 15 });
        // Every page builds on this store.
        for (const page of ['overview', 'funnel', 'items', 'retention', 'reminders', 'team'] as const)
          expect((await buildPage(page, { store, course, filter, lang: 'fr', now: new Date(W0.getTime() + 10 * DAY) })).blocks.length).toBeGreaterThan(0);
      } finally {
        await store.close();
      }
    });
  });
}

readModels('SqliteStore', async () => new SqliteStore(':memory:'));

const uri = process.env.MONGODB_URI;
if (!uri) console.log('Dashboard read models on MongoDB skipped: MONGODB_URI is not set (point it at a MongoDB server to run them)');
describe.skipIf(!uri)('on MongoDB', () => {
  const dbName = `digit4sd_dash_${process.pid}_${Date.now().toString(36)}`;
  readModels('MongoStore', () => MongoStore.connect(uri!, { dbName, serverSelectionTimeoutMS: 5000 }));
});
