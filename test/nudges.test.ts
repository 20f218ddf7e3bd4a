import { PassThrough } from 'node:stream';
import { Rating } from 'ts-fsrs';
import { describe, expect, it, vi } from 'vitest';
import { ConsoleAdapter } from '../adapters/console/adapter.js';
import { DEFAULT_ENGINE_OPTIONS, handleLearnerEvent } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import { encodeAction } from '../src/engine/actions.js';
import { RenderError } from '../src/errors.js';
import { newLearnerState, type LearnerState } from '../src/engine/state.js';
import { LearningBot } from '../src/runtime/bot.js';
import { MemorySentMarks, NudgeService } from '../src/scheduling/delivery.js';
import { InProcessScheduler } from '../src/scheduling/in-process.js';
import { MemoryPacer } from '../src/scheduling/pacer.js';
import { nextNudgeAt, DEFAULT_NUDGE_POLICY } from '../src/learning/nudges.js';
import { QUICK_MS, SLOW_MS, dueItems, ratingFor, scheduleAnswer } from '../src/learning/review.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { InboundEvent } from '../src/messages.js';
import { TestClock, choice, command, fixtureCourse, inbound } from './helpers.js';

const course = fixtureCourse();

/** Applies commands to a fresh learner at `now`, as the engine would. */
function learner(now: Date, ...events: InboundEvent[]): LearnerState {
  let state: LearnerState | null = null;
  for (const event of events) state = handleLearnerEvent(course, DEFAULT_ENGINE_OPTIONS, { state, inbound: inbound(event), now }).state;
  return state ?? newLearnerState(now, 'en');
}

describe('answers as FSRS ratings', () => {
  it('maps wrong to Again, right to Good, quick on a seen item to Easy, slow or after a wrong try to Hard', () => {
    expect(ratingFor({ correct: false, elapsedMs: 5_000, wrongTries: 0 }, true)).toBe(Rating.Again);
    expect(ratingFor({ correct: true, elapsedMs: 30_000, wrongTries: 0 }, false)).toBe(Rating.Good);
    expect(ratingFor({ correct: true, elapsedMs: QUICK_MS - 1, wrongTries: 0 }, false)).toBe(Rating.Good);
    expect(ratingFor({ correct: true, elapsedMs: QUICK_MS - 1, wrongTries: 0 }, true)).toBe(Rating.Easy);
    expect(ratingFor({ correct: true, elapsedMs: SLOW_MS + 1, wrongTries: 0 }, true)).toBe(Rating.Hard);
    expect(ratingFor({ correct: true, elapsedMs: 5_000, wrongTries: 1 }, true)).toBe(Rating.Hard);
  });

  it('counts a wrong try on an item, so that its next right answer is rated Hard (shorter interval than Good)', () => {
    const now = new Date('2026-03-02T09:00:00Z');
    const wrong = scheduleAnswer(undefined, { correct: false, elapsedMs: 5_000, wrongTries: 0 }, now, 0.9);
    expect(wrong.wrongTries).toBe(1);
    const later = new Date(wrong.due);
    const afterWrong = scheduleAnswer(wrong, { correct: true, elapsedMs: 5_000, wrongTries: wrong.wrongTries ?? 0 }, later, 0.9);
    const plain = scheduleAnswer(wrong, { correct: true, elapsedMs: 5_000, wrongTries: 0 }, later, 0.9);
    expect(afterWrong.wrongTries).toBeUndefined();
    expect(new Date(afterWrong.due).getTime()).toBeLessThan(new Date(plain.due).getTime());
    // Through the engine: answer an item wrong in a lesson, then right in /review.
    let state = learner(now, command('start', 'l1'));
    const item = course.lessons.get('l1')!.items[0]!;
    const wrongOption = item.options.findIndex((o) => !o.correct);
    state = { ...state, position: { kind: 'quiz', mode: 'lesson', lessonId: 'l1', itemIds: [item.id], index: 0, correct: 0, selected: [], shownAt: now.toISOString(), wrongTries: 0 } };
    state = handleLearnerEvent(course, DEFAULT_ENGINE_OPTIONS, { state, inbound: inbound(choice(encodeAction({ type: 'answer', itemId: item.id, option: wrongOption }))), now }).state;
    expect(state.reviews[item.id]!.wrongTries).toBe(1);
    expect(state.position).toMatchObject({ wrongTries: 1 });
  });

  it('brings a right answer back later than a wrong one, and later still once it is known', () => {
    const t0 = new Date('2026-03-02T09:00:00Z');
    const right = scheduleAnswer(undefined, { correct: true, elapsedMs: 20_000, wrongTries: 0 }, t0, 0.9);
    const wrong = scheduleAnswer(undefined, { correct: false, elapsedMs: 20_000, wrongTries: 0 }, t0, 0.9);
    expect(new Date(right.due).getTime()).toBeGreaterThan(new Date(wrong.due).getTime());
    // Review it when due, right again: the interval grows to days.
    const t1 = new Date(right.due);
    const again = scheduleAnswer(right, { correct: true, elapsedMs: 10_000, wrongTries: 0 }, t1, 0.9);
    expect(new Date(again.due).getTime() - t1.getTime()).toBeGreaterThan(86_400_000);
    expect(again).toMatchObject({ seen: 2, right: 2 });
    // A higher desired retention brings items back sooner.
    const strict = scheduleAnswer(right, { correct: true, elapsedMs: 10_000, wrongTries: 0 }, t1, 0.97);
    expect(new Date(strict.due).getTime()).toBeLessThan(new Date(again.due).getTime());
  });

  it('serves due items with /review, most overdue first, and reschedules each answer', () => {
    let now = new Date('2026-03-02T09:00:00Z');
    let state: LearnerState | null = null;
    const send = (event: InboundEvent) => {
      const r = handleLearnerEvent(course, DEFAULT_ENGINE_OPTIONS, { state, inbound: inbound(event), now });
      state = r.state;
      return r.messages;
    };
    send(command('start', 'l1'));
    const tap = (label: string, messages: ReturnType<typeof send>) => send(choice(messages.flatMap((m) => ('choices' in m ? (m.choices ?? []) : [])).find((c) => c.label === label)!.data));
    let out = send(command('next'));
    out = tap('Next', out);
    out = tap('Next', out);
    out = tap('Start the quiz', out);
    out = tap('A', out); // q1 wrong
    out = tap('Next question', out);
    out = tap('True', out); // q2 right
    out = tap('Next question', out);
    // Nothing is due yet: /review offers the items of the lesson not yet answered instead.
    out = send(command('review'));
    expect(out.at(-1)).toMatchObject({ kind: 'quiz', itemId: 'l1-q3' });
    // An hour later both answered items are due; the earlier one (q1, wrong) first.
    now = new Date(now.getTime() + 3_600_000);
    expect(dueItems(state!.reviews, now)).toEqual(['l1-q1', 'l1-q2']);
    out = send(command('review'));
    expect(out[0]).toMatchObject({ kind: 'text' });
    expect(out.at(-1)).toMatchObject({ kind: 'quiz', itemId: 'l1-q1', heading: 'Review 1 of 2' });
    const before = state!.reviews['l1-q1']!.due;
    tap('B', out);
    expect(state!.reviews['l1-q1']!.due > before).toBe(true);
    expect(state!.reviews['l1-q1']!.seen).toBe(2);
  });
});

describe('when nudges come', () => {
  const monday = new Date('2026-03-02T03:00:00Z'); // a Monday

  it('reminds at the chosen local time in the learner\'s time zone, on weekdays', () => {
    const s = learner(monday, command('timezone', 'Africa/Kampala'), command('remind', '08:30'));
    // 08:30 in Kampala (UTC+3) is 05:30 UTC.
    expect(nextNudgeAt(s, monday)?.toISOString()).toBe('2026-03-02T05:30:00.000Z');
    // After Friday's reminder, the next is Monday's.
    const friday = { ...s, nudges: { ...s.nudges, lastReminderAt: '2026-03-06T05:30:00.000Z' }, lastSeenAt: '2026-03-01T00:00:00.000Z' };
    expect(nextNudgeAt(friday, new Date('2026-03-06T06:00:00Z'))?.toISOString()).toBe('2026-03-09T05:30:00.000Z');
  });

  it('keeps the local time across a daylight-saving change', () => {
    const s = learner(monday, command('timezone', 'America/New_York'), command('remind', '08:30'));
    const old = { ...s, lastSeenAt: '2026-03-01T00:00:00.000Z' };
    // Friday 6 March: EST (UTC-5).
    expect(nextNudgeAt({ ...old, nudges: { ...old.nudges, lastReminderAt: '2026-03-05T13:30:00.000Z' } }, new Date('2026-03-05T14:00:00Z'))?.toISOString()).toBe('2026-03-06T13:30:00.000Z');
    // Clocks go forward on Sunday 8 March; Monday 9 March is EDT (UTC-4).
    expect(nextNudgeAt({ ...old, nudges: { ...old.nudges, lastReminderAt: '2026-03-06T13:30:00.000Z' } }, new Date('2026-03-06T14:00:00Z'))?.toISOString()).toBe('2026-03-09T12:30:00.000Z');
  });

  it('never falls in quiet hours: a late reminder waits for the morning', () => {
    const s = learner(monday, command('timezone', 'Asia/Dhaka'), command('remind', '22:15'));
    // 22:15 is inside quiet hours (21:00-08:00): it waits until 08:00 Dhaka (02:00 UTC) next day.
    expect(nextNudgeAt(s, monday)?.toISOString()).toBe('2026-03-03T02:00:00.000Z');
  });

  it('sends a review nudge when items are due, at most one a day, outside quiet hours', () => {
    const s = learner(monday, command('timezone', 'Pacific/Fiji'));
    const due = { ...s, lastSeenAt: '2026-03-01T00:00:00.000Z', reviews: { x: { due: '2026-03-02T10:00:00.000Z', stability: 1, difficulty: 5, elapsed_days: 0, scheduled_days: 0, learning_steps: 0, reps: 1, lapses: 0, state: 2, seen: 1, right: 1 } } };
    // 10:00 UTC is 22:00 in Fiji (UTC+12): quiet; the nudge waits until 08:00 Fiji = 20:00 UTC.
    expect(nextNudgeAt(due, monday)?.toISOString()).toBe('2026-03-02T20:00:00.000Z');
    // Once a review nudge went out that local day, the next waits for the next day's morning.
    const nudged = { ...due, nudges: { ...due.nudges, lastReviewNudgeAt: '2026-03-02T20:00:00.000Z' } };
    expect(nextNudgeAt(nudged, new Date('2026-03-02T20:05:00Z'))?.toISOString()).toBe('2026-03-03T20:00:00.000Z');
  });

  it('waits while snoozed, stops when paused or stopped, and comes back on /resume', () => {
    const s = learner(monday, command('remind', '09:00'));
    const quiet = { ...s, lastSeenAt: '2026-03-01T00:00:00.000Z' };
    expect(nextNudgeAt(quiet, monday)?.toISOString()).toBe('2026-03-02T09:00:00.000Z');
    // Snoozed until tomorrow morning (the end of quiet hours, 08:00).
    const snoozed = learner(monday, command('remind', '09:00'), command('snooze', 'tomorrow'));
    expect(nextNudgeAt({ ...snoozed, lastSeenAt: '2026-03-01T00:00:00.000Z' }, monday)?.toISOString()).toBe('2026-03-03T08:00:00.000Z');
    // The snoozed reminder, once sent at 08:00, is that day's: no second one at 09:00.
    const served = { ...snoozed, lastSeenAt: '2026-03-01T00:00:00.000Z', nudges: { ...snoozed.nudges, snoozedUntil: undefined, lastReminderAt: '2026-03-03T08:00:00.000Z' } };
    delete served.nudges.snoozedUntil;
    expect(nextNudgeAt(served, new Date('2026-03-03T08:01:00Z'))?.toISOString()).toBe('2026-03-04T09:00:00.000Z');
    const paused = learner(monday, command('remind', '09:00'), command('pause'));
    expect(nextNudgeAt(paused, monday)).toBeNull();
    const stopped = learner(monday, command('remind', '09:00'), command('stop'));
    expect(nextNudgeAt(stopped, monday)).toBeNull();
    const resumed = learner(monday, command('remind', '09:00'), command('pause'), command('resume'));
    expect(nextNudgeAt({ ...resumed, lastSeenAt: '2026-03-01T00:00:00.000Z' }, monday)?.toISOString()).toBe('2026-03-02T09:00:00.000Z');
    const tired = { ...quiet, nudges: { ...quiet.nudges, unanswered: DEFAULT_NUDGE_POLICY.maxUnanswered } };
    expect(nextNudgeAt(tired, monday)).toBeNull();
  });

  it('rejects a time zone it does not know, and a malformed time', () => {
    const s = learner(monday, command('timezone', 'Mars/Olympus'), command('remind', '25:99'));
    expect(s.nudges.timezone).toBe('UTC');
    expect(s.nudges.remindAt).toBeNull();
  });
});

describe('the in-process scheduler', () => {
  async function setup(start: string) {
    const clock = new TestClock(new Date(start));
    const store = new SqliteStore(':memory:');
    const bot = new LearningBot({ course, store, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, now: clock.now, onError: (e) => { throw e; } });
    const output = new PassThrough();
    let printed = '';
    output.on('data', (d) => (printed += d));
    const consoleChannel = new ConsoleAdapter({ input: new PassThrough(), output, handle: (i) => bot.handle(i), now: clock.now });
    const service = new NudgeService({ bot, deliver: (d) => consoleChannel.send(d.address, d.messages), marks: new MemorySentMarks(), pacer: new MemoryPacer() });
    const scheduler = new InProcessScheduler({ bot, service, onError: (e) => { throw e; } });
    const say = async (line: string) => {
      await consoleChannel.line(line);
    };
    return { clock, store, bot, scheduler, say, printed: () => printed, clear: () => (printed = '') };
  }

  it('delivers the reminder at the chosen time, with why it came and one-tap choices, and never in quiet hours', async () => {
    const t = await setup('2026-03-02T05:00:00Z');
    await t.say('/timezone Europe/Paris');
    await t.say('/remind 08:30');
    t.clear();
    t.clock.set('2026-03-02T07:29:00Z'); // 08:29 in Paris
    expect(await t.scheduler.runOnce()).toEqual([]);
    // The scan comes a little after the minute: the reminder is still owed.
    t.clock.set('2026-03-02T07:30:25Z');
    expect(await t.scheduler.runOnce()).toEqual(['sent']);
    expect(t.printed()).toMatch(/Time for today's lesson: Lesson one \(about 2 min\)/);
    expect(t.printed()).toMatch(/\[1\] Start now {2}\[2\] In 1 hour {2}\[3\] Tomorrow {2}\[4\] Stop reminders/);
    // The dashboard's record of it, written with the state: sent at 08 in the learner's local day.
    const nudges = async () => (await t.store.exportLearner({ channel: 'console', userId: 'console' })).activity.filter((a) => a.type === 'nudge');
    expect(await nudges()).toEqual([{ type: 'nudge', at: '2026-03-02T07:30:25.000Z', event: 'sent', localHour: 8 }]);
    // Running again sends nothing more today.
    t.clock.set('2026-03-02T12:00:00Z');
    expect(await t.scheduler.runOnce()).toEqual([]);
    // Tapping "Start now" opens the lesson (hours later: not counted as answering the nudge within an hour).
    t.clear();
    await t.say('1');
    expect(t.printed()).toMatch(/Lesson one \(1\/3\)/);
    expect((await nudges()).map((a) => a.type === 'nudge' && a.event)).toEqual(['sent']);
  });

  it('pauses itself after three unanswered nudges, says how to resume, and resumes on /resume', async () => {
    const t = await setup('2026-03-02T05:00:00Z');
    await t.say('/remind 09:00');
    const days = ['2026-03-02', '2026-03-03', '2026-03-04', '2026-03-05', '2026-03-06'];
    const sent: string[] = [];
    for (const day of days) {
      t.clear();
      t.clock.set(`${day}T09:00:00Z`);
      const r = await t.scheduler.runOnce();
      sent.push(r.join());
      if (day === '2026-03-04') expect(t.printed()).toMatch(/pause reminders now.*\/resume/s);
    }
    expect(sent).toEqual(['sent', 'sent', 'sent', '', '']);
    t.clock.set('2026-03-06T10:00:00Z');
    await t.say('/resume');
    t.clock.set('2026-03-09T09:00:00Z');
    expect(await t.scheduler.runOnce()).toEqual(['sent']);
  });

  it('sends a reminder set for later today today, says when it comes, and only learning (not setting up) satisfies it', async () => {
    // 14:04 in Nairobi (UTC+3): /start, /timezone, /remind 14:05.
    const t = await setup('2026-03-02T11:04:00Z');
    await t.say('/start');
    await t.say('/timezone Africa/Nairobi');
    t.clear();
    await t.say('/remind 14:05');
    expect(t.printed()).toMatch(/Next reminder: today at 14:05\./);
    t.clock.set('2026-03-02T11:05:10Z');
    expect(await t.scheduler.runOnce()).toEqual(['sent']);
    // Tomorrow the learner reads a card at 10:00: that satisfies the day's reminder.
    t.clock.set('2026-03-03T07:00:00Z');
    t.clear();
    await t.say('/next');
    expect(t.printed()).toMatch(/\(1\/3\)/);
    t.clock.set('2026-03-03T11:05:10Z');
    expect(await t.scheduler.runOnce()).toEqual([]);
    // The day after, /remind off and on again is not learning: the reminder still comes, and says so.
    t.clock.set('2026-03-04T10:00:00Z');
    t.clear();
    await t.say('/remind 14:05');
    expect(t.printed()).toMatch(/Next reminder: today at 14:05\./);
    t.clock.set('2026-03-04T11:05:10Z');
    expect(await t.scheduler.runOnce()).toEqual(['sent']);
    // Every /remind reply says when the next one comes, in the learner's language and local time.
    t.clear();
    await t.say('/remind off');
    expect(t.printed()).toMatch(/No reminder is planned\./);
    t.clear();
    await t.say('/remind 14:05 fri');
    expect(t.printed()).toMatch(/Next reminder: Friday 6 March at 14:05\./);
    t.clear();
    await t.say('/lang fr');
    await t.say('/remind 14:05 daily');
    expect(t.printed()).toMatch(/Prochain rappel\u00a0: demain à 14:05\./);
  });

  it('keeps running when a claim fails: the error is reported, nothing is thrown, and the next pass delivers', async () => {
    const clock = new TestClock(new Date('2026-03-02T05:00:00Z'));
    const store = new SqliteStore(':memory:');
    const errors: { err: unknown; context: Record<string, unknown> }[] = [];
    const onError = (err: unknown, context: Record<string, unknown>) => void errors.push({ err, context });
    const bot = new LearningBot({ course, store, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, now: clock.now, onError });
    const sent: unknown[] = [];
    const service = new NudgeService({ bot, deliver: async (d) => void sent.push(d), marks: new MemorySentMarks() });
    const scheduler = new InProcessScheduler({ bot, service, onError, intervalMs: 5 });
    await bot.handle(inbound(command('remind', '09:00'), { user: 'ana' }));
    clock.set('2026-03-02T09:00:30Z');
    const claim = store.claimDueLearners.bind(store);
    let failures = 3;
    store.claimDueLearners = async (...args) => {
      if (failures-- > 0) throw new Error('database is locked');
      return claim(...args);
    };
    // The timer runs passes on its own; the failing ones end in the error sink, not in an unhandled rejection.
    scheduler.start();
    try {
      await vi.waitFor(() => expect(sent).toHaveLength(1), { timeout: 5000 });
    } finally {
      await scheduler.stop();
    }
    expect(errors.filter((e) => e.context.where === 'nudge-scan').map((e) => (e.err as Error).message)).toEqual(['database is locked', 'database is locked', 'database is locked']);
    expect(await scheduler.runOnce()).toEqual([]);
  });

  it('does not retry a nudge that cannot be rendered: reported once, recorded as spent, the scheduler goes on', async () => {
    const clock = new TestClock(new Date('2026-03-02T05:00:00Z'));
    const store = new SqliteStore(':memory:');
    const errors: { err: unknown; context: Record<string, unknown> }[] = [];
    const onError = (err: unknown, context: Record<string, unknown>) => void errors.push({ err, context });
    const bot = new LearningBot({ course, store, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, now: clock.now, onError });
    let attempts = 0;
    const service = new NudgeService({
      bot,
      deliver: async () => {
        attempts++;
        throw new RenderError('telegram', 'text', new Error('a button label over the limit'));
      },
      marks: new MemorySentMarks(),
    });
    const scheduler = new InProcessScheduler({ bot, service, onError });
    await bot.handle(inbound(command('remind', '09:00'), { user: 'ana' }));
    clock.set('2026-03-02T09:00:30Z');
    expect(await scheduler.runOnce()).toEqual(['failed']);
    expect(attempts).toBe(1);
    expect(errors).toEqual([{ err: expect.any(RenderError), context: expect.objectContaining({ where: 'nudge-delivery', retryable: false }) }]);
    // Not retried: later passes the same day find nothing to send.
    clock.set('2026-03-02T10:30:00Z');
    expect(await scheduler.runOnce()).toEqual([]);
    expect(attempts).toBe(1);
  });

  it('snoozes from the nudge\'s own button', async () => {
    const t = await setup('2026-03-02T05:00:00Z');
    await t.say('/remind 09:00');
    t.clock.set('2026-03-02T09:00:00Z');
    await t.scheduler.runOnce();
    t.clear();
    await t.say('2'); // In 1 hour
    expect(t.printed()).toMatch(/snoozed until/i);
    const rec = await t.store.getLearner({ channel: 'console', userId: 'console' });
    expect(rec!.state.nudges.snoozedUntil).toBe('2026-03-02T10:00:00.000Z');
    t.clock.set('2026-03-02T09:59:00Z');
    expect(await t.scheduler.runOnce()).toEqual([]);
    t.clock.set('2026-03-02T10:00:30Z');
    t.clear();
    expect(await t.scheduler.runOnce()).toEqual(['sent']);
    expect(t.printed()).toMatch(/Time for today's lesson/);
  });
});

describe('reminder days', () => {
  it('reads days in English, French or Spanish, or daily and weekdays, and rejects other words', async () => {
    const { parseDays } = await import('../src/engine/nudge-commands.js');
    expect(parseDays('daily')).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(parseDays('weekdays')).toEqual([1, 2, 3, 4, 5]);
    expect(parseDays('mon,wed,fri')).toEqual([1, 3, 5]);
    expect(parseDays('Friday Monday')).toEqual([1, 5]);
    expect(parseDays('lun, mié, vie')).toEqual([1, 3, 5]);
    expect(parseDays('sam dim')).toEqual([0, 6]);
    expect(parseDays('someday')).toBeUndefined();
  });

  it('sets a reminder on the days asked for, and reminds only then', () => {
    const monday = new Date('2026-03-02T03:00:00Z');
    const s = learner(monday, command('remind', '09:00 sat,sun'));
    expect(s.nudges.remindDays).toEqual([0, 6]);
    expect(nextNudgeAt({ ...s, lastSeenAt: '2026-03-01T00:00:00.000Z' }, monday)?.toISOString()).toBe('2026-03-07T09:00:00.000Z');
    const bad = learner(monday, command('remind', '09:00 someday'));
    expect(bad.nudges.remindAt).toBeNull();
  });
});

describe('local days', () => {
  it('find the next local midnight also on a 23-hour day', async () => {
    const { startOfNextLocalDay } = await import('../src/learning/localtime.js');
    // 01:00 EST on 8 March 2026; clocks go forward at 02:00, so the day has 23 hours and the next
    // midnight is 00:00 EDT (04:00 UTC), not 05:00 UTC.
    expect(startOfNextLocalDay(new Date('2026-03-08T06:00:00Z'), 'America/New_York').toISOString()).toBe('2026-03-09T04:00:00.000Z');
    expect(startOfNextLocalDay(new Date('2026-03-02T21:30:00Z'), 'Africa/Kampala').toISOString()).toBe('2026-03-03T21:00:00.000Z');
  });
});
