/**
 * The engine's activity records (what the dashboard aggregates) and the optional country and
 * organisation fields of /settings.
 */
import { describe, expect, it } from 'vitest';
import { handleLearnerEvent, DEFAULT_ENGINE_OPTIONS, type TurnResult } from '../src/engine/engine.js';
import type { ActivityRecord } from '../src/engine/activity.js';
import type { LearnerState } from '../src/engine/state.js';
import type { Choice, InboundEvent } from '../src/messages.js';
import { toPlainText } from '../src/messages.js';
import { parseCountry, cleanOrg } from '../src/engine/profile.js';
import { choice, command, fixtureCourse, inbound, text } from './helpers.js';

const course = fixtureCourse();
const T0 = new Date('2026-03-02T09:00:00Z');

class Session {
  state: LearnerState | null = null;
  last!: TurnResult;
  activity: ActivityRecord[] = [];
  now = new Date(T0);
  send(event: InboundEvent, stepMs = 20_000): TurnResult {
    this.now = new Date(this.now.getTime() + stepMs);
    this.last = handleLearnerEvent(course, DEFAULT_ENGINE_OPTIONS, { state: this.state, inbound: inbound(event), now: this.now });
    this.state = this.last.state;
    this.activity.push(...this.last.activity);
    return this.last;
  }
  choices(): Choice[] {
    return this.last.messages.flatMap((m) => ('choices' in m && m.choices ? m.choices : []));
  }
  tap(label: string, stepMs?: number): TurnResult {
    const c = this.choices().find((x) => x.label === label);
    if (!c) throw new Error(`no choice ${label} among ${this.choices().map((x) => x.label).join(', ')}`);
    return this.send(choice(c.data), stepMs);
  }
  text(): string {
    return this.last.messages.map((m) => (m.kind === 'text' ? toPlainText(m.text) : '')).join('\n');
  }
  /** Lesson one of the fixture: three cards, then B, True, A+C (right), B (wrong). */
  lessonOne(): void {
    this.tap('Next');
    this.tap('Next');
    this.tap('Start the quiz');
    this.tap('B');
    this.tap('Next question');
    this.tap('True');
    this.tap('Next question');
    this.tap('☐ A');
    this.tap('☐ C');
    this.tap('Submit answer');
    this.tap('Next question');
    this.tap('B');
    this.tap('See my score');
  }
}

describe('activity records', () => {
  it('records a lesson: its start once, every answer with the options chosen, and its completion with score and time', () => {
    const s = new Session();
    s.send(command('start'));
    s.tap('Begin module 1');
    s.lessonOne();
    const types = s.activity.map((a) => a.type);
    expect(types).toEqual(['lesson_started', 'item_answered', 'item_answered', 'item_answered', 'item_answered', 'lesson_completed']);
    const answers = s.activity.filter((a) => a.type === 'item_answered');
    expect(answers.map((a) => [a.itemId, a.options, a.correct, a.firstTry, a.mode])).toEqual([
      ['l1-q1', [1], true, true, 'lesson'],
      ['l1-q2', [0], true, true, 'lesson'],
      ['l1-q3', [0, 2], true, true, 'lesson'],
      ['l1-q4', [1], false, true, 'lesson'],
    ]);
    // Shown, then answered on the next turn (20 s later); ticking takes two more turns on the multiple-answer item.
    expect(answers.map((a) => a.durationMs)).toEqual([20_000, 20_000, 60_000, 20_000]);
    expect(answers.every((a) => a.predictedRecall === undefined && a.daysSinceSeen === undefined)).toBe(true);
    const done = s.activity.at(-1)!;
    // Started at the tap on "Begin module 1"; 13 turns of 20 s later it is complete.
    expect(done).toEqual({ type: 'lesson_completed', at: s.now.toISOString(), lessonId: 'l1', correct: 3, total: 4, first: true, durationMs: 13 * 20_000 });
  });

  it('records an item answered again with FSRS predicted recall and the days since it was last seen, and a redone lesson as not first', () => {
    const s = new Session();
    s.send(command('start'));
    s.tap('Begin module 1');
    s.lessonOne();
    s.activity = [];
    // Three days later the learner redoes lesson one from the menu.
    s.send(command('start', 'l1'), 3 * 86_400_000);
    expect(s.activity).toEqual([]); // not a first start
    s.lessonOne();
    const first = s.activity.find((a) => a.type === 'item_answered')!;
    expect(first).toMatchObject({ itemId: 'l1-q1', firstTry: false, mode: 'lesson' });
    if (first.type !== 'item_answered') throw new Error('unreachable');
    expect(first.daysSinceSeen).toBeGreaterThan(3);
    expect(first.daysSinceSeen).toBeLessThan(3.01);
    expect(first.predictedRecall).toBeGreaterThan(0);
    expect(first.predictedRecall).toBeLessThan(1);
    const done = s.activity.at(-1)!;
    expect(done).toMatchObject({ type: 'lesson_completed', first: false });
    expect('durationMs' in done).toBe(false);
  });

  it('records a message within the hour after a nudge as answering it, at the hour of the learner\'s local day the nudge came', () => {
    const s = new Session();
    s.send(command('start'));
    s.send(command('timezone', 'Asia/Kathmandu'));
    // A nudge was sent (the delivery records it in the state) half an hour before the next message: 08:31 UTC, 14:16 in Kathmandu.
    const nudged = (at: Date): LearnerState => ({ ...s.state!, nudges: { ...s.state!.nudges, unanswered: 1, lastNudgeAt: at.toISOString() } });
    s.state = nudged(new Date(s.now.getTime() - 30 * 60_000 + 20_000));
    s.activity = [];
    s.send(command('next'));
    expect(s.activity.filter((a) => a.type === 'nudge')).toEqual([{ type: 'nudge', at: s.now.toISOString(), event: 'answered', localHour: 14 }]);
    // Two hours after the nudge it does not count as answered within an hour.
    s.state = nudged(new Date(s.now.getTime() - 2 * 3_600_000));
    s.activity = [];
    s.send(command('next'));
    expect(s.activity.filter((a) => a.type === 'nudge')).toEqual([]);
  });

  it('records snoozes, pauses and stops at the learner\'s local hour', () => {
    const s = new Session();
    s.send(command('start'));
    s.send(command('timezone', 'America/Bogota'));
    s.activity = [];
    s.send(command('snooze', '1h'));
    s.send(command('snooze')); // only asks when: nothing recorded yet
    s.tap('In 1 hour');
    s.send(command('pause'));
    s.send(command('stop'));
    expect(s.activity.map((a) => (a.type === 'nudge' ? [a.event, a.localHour] : a.type))).toEqual([
      ['snoozed', 4],
      ['snoozed', 4],
      ['paused', 4],
      ['stopped', 4],
    ]);
  });
});

describe('country and organisation', () => {
  it('are asked once after the first lesson, can be given by typing, and show in /settings', () => {
    const s = new Session();
    s.send(command('start'));
    s.tap('Begin module 1');
    s.lessonOne();
    expect(s.text()).toMatch(/Optional: which country and organisation/);
    expect(s.choices()[0]!.label).toBe('Next: Lesson two');
    s.tap('Tell my country');
    expect(s.text()).toMatch(/Type the name of your country/);
    s.send(text('Atlantis'));
    expect(s.text()).toMatch(/do not recognise "Atlantis"/);
    expect(s.state!.country).toBeUndefined();
    s.send(text('côte d’ivoire'));
    expect(s.state!.country).toBe('CI');
    expect(s.text()).toMatch(/Country: Côte d’Ivoire\.\nNow type your organisation/);
    s.send(text('  Ministry   of ICT '));
    expect(s.state!.org).toBe('Ministry of ICT');
    expect(s.state!.awaiting).toBeUndefined();
    s.send(command('settings'));
    const settings = toPlainText((s.last.messages[0] as { text: Parameters<typeof toPlainText>[0] }).text);
    expect(settings).toMatch(/Country: Côte d’Ivoire/);
    expect(settings).toMatch(/Organisation: Ministry of ICT/);
    // Not asked again after the next lesson.
    s.tap('Continue');
    expect(s.state!.profileAsked).toBe(true);
  });

  it('can be skipped, set by command in any of the three languages, and removed', () => {
    const s = new Session();
    s.send(command('start'));
    s.send(command('country'));
    expect(s.state!.awaiting).toBe('country');
    s.tap('Skip');
    expect(s.state!.awaiting).toBeUndefined();
    expect(s.state!.country).toBeUndefined();
    s.send(command('country', 'Népal'));
    expect(s.state!.country).toBe('NP');
    s.send(command('country', 'Islas Salomón'));
    expect(s.state!.country).toBe('SB');
    s.send(command('org', 'DESA'));
    expect(s.state!.org).toBe('DESA');
    // /settings offers them too.
    s.send(command('settings'));
    expect(s.choices().map((c) => c.label)).toEqual(['Language', 'Country and organisation', 'Continue']);
    s.tap('Country and organisation');
    expect(s.state!.awaiting).toBe('country');
    s.send(text('Samoa'));
    expect(s.state!.country).toBe('WS');
    s.tap('Skip');
    expect(s.state!.org).toBe('DESA');
    s.send(command('org', 'off'));
    s.send(command('country', 'off'));
    expect(s.state!.org).toBeUndefined();
    expect(s.state!.country).toBeUndefined();
    // A command while the bot waits for a country ends the wait: the next text is not taken as one.
    s.send(command('country'));
    s.send(command('menu'));
    s.send(text('Fiji'));
    expect(s.state!.country).toBeUndefined();
  });

  it('parses country names in English, French and Spanish and by code; keeps organisations short', () => {
    expect(['Bangladesh', 'bangladesh', 'BD'].map(parseCountry)).toEqual(['BD', 'BD', 'BD']);
    expect(parseCountry('Tchad')).toBe('TD');
    expect(parseCountry('Haití')).toBe('HT');
    expect(parseCountry('Mordor')).toBeUndefined();
    expect(parseCountry('')).toBeUndefined();
    expect(cleanOrg('x'.repeat(200))).toHaveLength(80);
    expect(cleanOrg('   ')).toBeUndefined();
  });
});
