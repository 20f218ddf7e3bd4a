/** The weekly team-quiz schedule in the pure group engine: parsing, the replies, and the next start. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_GROUP_OPTIONS, groupDueTimes, newGroupState, nextWeeklyStart, parseScheduleArgs, scheduleGroupQuiz, startGroupQuiz, startScheduledQuiz } from '../src/engine/group.js';
import { toPlainText, type Outbound } from '../src/messages.js';
import { fixtureCourse } from './helpers.js';

const MONDAY = new Date('2026-03-02T09:00:00Z');
const textOf = (messages: Outbound[]) => messages.map((m) => (m.kind === 'text' ? toPlainText(m.text) : m.kind)).join('\n');

describe('parsing /schedule', () => {
  it('reads a day, a 24-hour time and an optional IANA zone, in any order', () => {
    expect(parseScheduleArgs('fri 15:00')).toEqual({ kind: 'set', day: 5, time: '15:00' });
    expect(parseScheduleArgs('Friday 9:05 africa/nairobi')).toEqual({ kind: 'set', day: 5, time: '09:05', tz: 'Africa/Nairobi' });
    expect(parseScheduleArgs('15h30 sun')).toEqual({ kind: 'set', day: 0, time: '15:30' });
    // French and Spanish day names, with or without accents.
    expect(parseScheduleArgs('ven 15:00')).toMatchObject({ day: 5 });
    expect(parseScheduleArgs('miércoles 10:00')).toMatchObject({ day: 3 });
    expect(parseScheduleArgs('sáb 10:00')).toMatchObject({ day: 6 });
    expect(parseScheduleArgs('mar 10:00')).toMatchObject({ day: 2 });
  });

  it('tells off, show, a bad zone and anything else apart', () => {
    expect(parseScheduleArgs('off')).toEqual({ kind: 'off' });
    expect(parseScheduleArgs('  ')).toEqual({ kind: 'show' });
    expect(parseScheduleArgs('fri 15:00 Mars/Olympus')).toEqual({ kind: 'bad_tz', tz: 'Mars/Olympus' });
    for (const bad of ['fri', '15:00', 'fri 25:00', 'fr 15:00', 'fri 15:00 UTC extra', 'someday 15:00']) expect(parseScheduleArgs(bad), bad).toEqual({ kind: 'usage' });
  });
});

describe('the next weekly start', () => {
  it('is the next local day and time strictly after the given instant', () => {
    const s = { day: 5, time: '15:00', tz: 'Europe/Paris' };
    expect(nextWeeklyStart(s, MONDAY).toISOString()).toBe('2026-03-06T14:00:00.000Z');
    expect(nextWeeklyStart(s, new Date('2026-03-06T14:00:00Z')).toISOString()).toBe('2026-03-13T14:00:00.000Z');
    expect(nextWeeklyStart(s, new Date('2026-03-06T13:59:59Z')).toISOString()).toBe('2026-03-06T14:00:00.000Z');
  });

  it('keeps the local time across daylight-saving changes, both ways', () => {
    const paris = { day: 5, time: '15:00', tz: 'Europe/Paris' };
    expect(nextWeeklyStart(paris, new Date('2026-03-27T14:00:00Z')).toISOString()).toBe('2026-04-03T13:00:00.000Z');
    expect(nextWeeklyStart(paris, new Date('2026-10-23T13:00:00Z')).toISOString()).toBe('2026-10-30T14:00:00.000Z');
    // 02:30 does not exist in New York on Sunday 8 March 2026: the start moves to the next valid minute.
    const early = { day: 0, time: '02:30', tz: 'America/New_York' };
    expect(nextWeeklyStart(early, new Date('2026-03-02T00:00:00Z')).toISOString()).toBe('2026-03-08T07:30:00.000Z');
    expect(nextWeeklyStart(early, new Date('2026-03-08T07:30:00Z')).toISOString()).toBe('2026-03-15T06:30:00.000Z');
  });
});

describe('the /schedule reply and state', () => {
  it('stores the schedule with its next start, defaulting to UTC, then to the zone given before', () => {
    const set = scheduleGroupQuiz(newGroupState('en'), 'fri 15:00', MONDAY);
    expect(set.state.schedule).toEqual({ day: 5, time: '15:00', tz: 'UTC', next: '2026-03-06T15:00:00.000Z' });
    expect(groupDueTimes(set.state)).toEqual({ closesAt: null, nextQuizAt: new Date('2026-03-06T15:00:00Z') });
    const zoned = scheduleGroupQuiz(set.state, 'fri 15:00 Africa/Nairobi', MONDAY).state;
    expect(scheduleGroupQuiz(zoned, 'tue 08:00', MONDAY).state.schedule).toMatchObject({ day: 2, time: '08:00', tz: 'Africa/Nairobi' });
  });

  it('answers in the group language and leaves the state alone when nothing changes', () => {
    const fr = newGroupState('fr');
    const set = scheduleGroupQuiz(fr, 'ven 15:00 Europe/Paris', MONDAY);
    expect(textOf(set.messages)).toBe('Quiz d’équipe hebdomadaire\u00a0: chaque vendredi à 15:00 (Europe/Paris). Le prochain commence le 6 mars.');
    for (const args of ['', 'someday', 'fri 15:00 Mars/Olympus', 'off']) expect(scheduleGroupQuiz(fr, args, MONDAY).state, args).toBe(fr);
    expect(scheduleGroupQuiz(set.state, 'off', MONDAY).state.schedule).toBeNull();
  });

  it('starts a due quiz as /quiz would, and is not due before its time', () => {
    const course = fixtureCourse();
    const state = scheduleGroupQuiz(newGroupState('en'), 'fri 15:00', MONDAY).state;
    expect(startScheduledQuiz(course, DEFAULT_GROUP_OPTIONS, state, 'q1', new Date('2026-03-06T14:59:59Z'))).toBeNull();
    const started = startScheduledQuiz(course, DEFAULT_GROUP_OPTIONS, state, 'q1', new Date('2026-03-06T15:00:00Z'))!;
    const byHand = startGroupQuiz(course, DEFAULT_GROUP_OPTIONS, state, '', 'q1', new Date('2026-03-06T15:00:00Z'));
    expect(started.state.quiz).toEqual(byHand.state.quiz);
    expect(started.messages).toEqual(byHand.messages);
    expect(started.state.schedule!.next).toBe('2026-03-13T15:00:00.000Z');
    expect(started.messages.map((m) => m.kind)).toEqual(['text', 'quiz']);
  });
});
