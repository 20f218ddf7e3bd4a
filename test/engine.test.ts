import { describe, expect, it } from 'vitest';
import { handleLearnerEvent, DEFAULT_ENGINE_OPTIONS, type TurnResult } from '../src/engine/engine.js';
import { decodeAction, encodeAction } from '../src/engine/actions.js';
import type { LearnerState } from '../src/engine/state.js';
import type { Choice, InboundEvent, Outbound } from '../src/messages.js';
import { toPlainText, type RichText } from '../src/messages.js';
import { DEFAULT_NUDGE_POLICY, nudgeDue } from '../src/learning/nudges.js';
import { nudgeMessage } from '../src/engine/nudge-message.js';
import { choice, command, fixtureCourse, inbound, text } from './helpers.js';

const course = fixtureCourse();
const T0 = new Date('2026-03-02T09:00:00Z');

/** A tiny driver: keeps the state between turns, like the runtime does. */
class Session {
  state: LearnerState | null = null;
  last: TurnResult | undefined;
  now = new Date(T0);
  send(event: InboundEvent, lang?: string): TurnResult {
    this.now = new Date(this.now.getTime() + 20_000);
    const before = this.state ? structuredClone(this.state) : null;
    const result = handleLearnerEvent(course, DEFAULT_ENGINE_OPTIONS, { state: this.state, inbound: inbound(event, lang ? { lang } : {}), now: this.now });
    // The engine never mutates the state it is given.
    if (before) expect(this.state).toEqual(before);
    this.state = result.state;
    this.last = result;
    return result;
  }
  /** Taps the choice whose label matches. */
  tap(label: string | RegExp): TurnResult {
    const c = this.choices().find((x) => (typeof label === 'string' ? x.label === label : label.test(x.label)));
    if (!c) throw new Error(`no choice ${label} among ${this.choices().map((x) => x.label).join(', ')}`);
    return this.send(choice(c.data));
  }
  choices(): Choice[] {
    const withChoices = [...(this.last?.messages ?? [])].reverse().find((m) => 'choices' in m && m.choices?.length);
    return withChoices && 'choices' in withChoices ? (withChoices.choices ?? []) : [];
  }
  text(): string {
    return (this.last?.messages ?? []).map(render).join('\n');
  }
}

function render(m: Outbound): string {
  switch (m.kind) {
    case 'text':
      return toPlainText(m.text);
    case 'card':
      return `${m.lessonTitle} ${m.index}/${m.total}\n${toPlainText(m.body)}`;
    case 'quiz':
      return `${m.heading}\n${m.question}\n${m.options.map((o) => `${o.key}. ${o.text}`).join('\n')}`;
    case 'feedback':
      return `${m.heading}\n${m.answer.join('; ')}\n${m.explanation}`;
    case 'progress':
      return `${m.heading}\n${m.modules.map((x) => `${x.title} ${x.lessonsDone}/${x.lessonsTotal} ${x.status}`).join('\n')}\n${toPlainText(m.summary)}`;
    case 'notice':
      return m.text;
    case 'data':
      return m.json;
    case 'file':
      return m.caption;
    case 'tally':
      return m.text;
    case 'close':
    case 'erased':
      return '';
  }
}

describe('the dialog engine', () => {
  it('welcomes a newcomer with what the course is, how long a lesson takes, and two ways in', () => {
    const s = new Session();
    s.send(command('start'));
    expect(s.text()).toMatch(/DiGIT4SD/);
    expect(s.text()).toMatch(/about 2 minutes/); // the fixture lessons' computed time
    expect(s.choices().map((c) => c.label)).toEqual(['Begin module 1', 'Pick a module']);
  });

  it('takes a learner through a lesson: cards, then quiz items with immediate feedback, then the score', () => {
    const s = new Session();
    s.send(command('start'));
    s.tap('Begin module 1');
    const card1 = s.last!.messages[0]!;
    expect(card1).toMatchObject({ kind: 'card', lessonTitle: 'Lesson one', index: 1, total: 3 });
    expect(s.choices().map((c) => c.label)).toEqual(['Next', 'Menu']);
    s.tap('Next');
    expect(s.last!.messages[0]).toMatchObject({ kind: 'card', index: 2 });
    s.tap('Next');
    expect(s.choices()[0]!.label).toBe('Start the quiz');
    s.tap('Start the quiz');
    expect(s.last!.messages[0]).toMatchObject({ kind: 'quiz', itemId: 'l1-q1', heading: 'Question 1 of 4', multiple: false });

    // Right answer: B.
    s.tap('B');
    const right = s.last!.messages[0]!;
    expect(right).toMatchObject({ kind: 'feedback', correct: true, answer: ['B. Right B'], explanation: 'B is right because the fixture says so.', right: [1], picked: [1], edit: 'source' });
    s.tap('Next question');
    // True/false shows localised True and False.
    expect(s.choices().map((c) => c.label)).toEqual(['True', 'False']);
    s.tap('True');
    expect(s.last!.messages[0]).toMatchObject({ kind: 'feedback', correct: true });
    s.tap('Next question');
    // Multiple answer: tick A and C, then submit.
    expect(s.last!.messages[0]).toMatchObject({ kind: 'quiz', multiple: true });
    s.tap('☐ A');
    expect(s.choices().map((c) => c.label)).toEqual(['☑ A', '☐ B', '☐ C', 'Submit answer']);
    s.tap('☐ C');
    s.tap('Submit answer');
    expect(s.last!.messages[0]).toMatchObject({ kind: 'feedback', correct: true, answer: ['A. Right A', 'C. Right C'] });
    s.tap('Next question');
    // Wrong answer: the feedback gives the right one and why.
    s.tap('B');
    expect(s.last!.messages[0]).toMatchObject({ kind: 'feedback', correct: false, heading: 'Not quite.', answer: ['A. Right A'], explanation: 'A is right.' });
    s.tap('See my score');
    expect(s.text()).toMatch(/Lesson complete: Lesson one\. You got 3 of 4 right\./);
    expect(s.text()).toMatch(/Up next: Lesson two/);
    expect(s.choices()[0]!.label).toBe('Next: Lesson two');
    expect(s.state!.lessons.l1).toMatchObject({ status: 'done', lastScore: { correct: 3, total: 4 } });
    // Every answered item became a review card.
    expect(Object.keys(s.state!.reviews).sort()).toEqual(['l1-q1', 'l1-q2', 'l1-q3', 'l1-q4']);
  });

  it('answers a tap on an old button gracefully and shows where the learner is', () => {
    const s = new Session();
    s.send(command('start'));
    s.tap('Begin module 1');
    const oldNext = s.choices()[0]!;
    s.tap('Next');
    s.send(choice(oldNext.data));
    expect(s.text()).toMatch(/earlier message/);
    expect(s.last!.messages.at(-1)).toMatchObject({ kind: 'card', index: 2 });
    expect(s.state!.position).toEqual({ kind: 'card', lessonId: 'l1', index: 1 });
    // Garbage callback data too.
    s.send(choice('9|zz|??'));
    expect(s.text()).toMatch(/earlier message/);
  });

  it('continues where the learner left off with /next, and shows progress marks in the menu', () => {
    const s = new Session();
    s.send(command('next'));
    expect(s.last!.messages[0]).toMatchObject({ kind: 'card', lessonTitle: 'Lesson one', index: 1 });
    s.tap('Next');
    s.send(command('menu'));
    expect(s.text()).toMatch(/▶️ 1\. Basics \(0\/2\)/);
    expect(s.text()).toMatch(/⚪ 2\. More \(0\/1\)/);
    s.tap(/Basics/);
    expect(s.text()).toMatch(/▶️ Lesson one/);
    s.send(command('next'));
    expect(s.last!.messages[0]).toMatchObject({ kind: 'card', index: 2 });
  });

  it('opens a lesson from a deep link (/start <lesson-id>)', () => {
    const s = new Session();
    s.send(command('start', 'l3'));
    expect(s.last!.messages[0]).toMatchObject({ kind: 'card', lessonTitle: 'Lesson three', index: 1 });
  });

  it('accepts a typed letter as the answer to a single-choice question', () => {
    const s = new Session();
    s.send(command('start', 'l1'));
    s.tap('Next');
    s.tap('Next');
    s.tap('Start the quiz');
    s.send(text('b'));
    expect(s.last!.messages[0]).toMatchObject({ kind: 'feedback', correct: true });
  });

  it('never answers free text or an unknown command with silence', () => {
    const s = new Session();
    s.send(command('start'));
    for (const ev of [text('what is this?'), text('🙂'), command('frobnicate'), text('hello')]) {
      const r = s.send(ev);
      expect(r.messages.length).toBeGreaterThan(0);
      expect(s.text().length).toBeGreaterThan(10);
    }
    s.send(command('frobnicate'));
    expect(s.text()).toMatch(/\/frobnicate/);
  });

  it('builds a quick quiz from what the learner has learned, weakest items first', () => {
    const s = new Session();
    s.send(command('quiz'));
    expect(s.text()).toMatch(/Finish a lesson first/);
    s.send(command('start', 'l1'));
    s.tap('Next');
    s.tap('Next');
    s.tap('Start the quiz');
    s.tap('A'); // wrong
    s.tap('Next question');
    s.tap('True');
    s.tap('Next question');
    s.tap('☐ A');
    s.tap('☐ C');
    s.tap('Submit answer');
    s.tap('Next question');
    s.tap('A');
    s.tap('See my score');
    s.send(command('quiz'));
    expect(s.text()).toMatch(/4 questions/);
    expect(s.last!.messages.at(-1)).toMatchObject({ kind: 'quiz', itemId: 'l1-q1' });
  });

  it('shows progress per module with lessons done, accuracy and reviews due', () => {
    const s = new Session();
    s.send(command('progress'));
    expect(s.text()).toMatch(/not started yet/);
    s.send(command('start', 'l1'));
    s.tap('Next');
    s.tap('Next');
    s.tap('Start the quiz');
    s.tap('B');
    s.send(command('progress'));
    const p = s.last!.messages[0]!;
    expect(p.kind).toBe('progress');
    if (p.kind !== 'progress') return;
    expect(p.modules[0]).toMatchObject({ moduleId: 'm1', lessonsDone: 0, lessonsTotal: 2, status: 'in_progress' });
    expect(s.text()).toMatch(/Quiz answers right: 1 of 1 \(100%\)/);
    expect(s.text()).toMatch(/Reviews due now: 0 · later today: 1 · in the next 7 days: 1/);
  });

  it('switches the interface language with /lang, and offers a choice for an unknown one', () => {
    const s = new Session();
    s.send(command('lang', 'fr'));
    expect(s.state!.lang).toBe('fr');
    s.send(command('help'));
    expect(s.text()).not.toMatch(/How to use this bot/);
    s.send(command('lang', 'xx'));
    expect(s.choices().map((c) => c.label)).toEqual(['English', 'Français', 'Español']);
    s.tap('Español');
    expect(s.state!.lang).toBe('es');
  });

  it('starts in the platform language when it is one the bot speaks', () => {
    const s = new Session();
    s.send(command('start'), 'es-ES');
    expect(s.state!.lang).toBe('es');
    expect(s.choices()[0]!.label).not.toBe('Begin module 1');
  });

  it('asks before erasing, and erases only on yes', () => {
    const s = new Session();
    s.send(command('start'));
    s.send(command('forget'));
    expect(s.choices().map((c) => c.label)).toEqual(['Yes, erase everything', 'No, keep my progress']);
    s.tap('No, keep my progress');
    expect(s.last!.effects).toEqual([]);
    s.send(command('forget'));
    s.tap('Yes, erase everything');
    expect(s.last!.effects).toEqual([{ type: 'forget' }]);
    // A stale "yes" later does nothing.
    s.send(command('forget'));
    const yes = s.choices()[0]!;
    s.send(command('menu'));
    s.send(choice(yes.data));
    expect(s.last!.effects).toEqual([]);
  });

  it('asks the runtime to export the learner data on /mydata', () => {
    const s = new Session();
    s.send(command('mydata'));
    expect(s.last!.effects).toEqual([{ type: 'export' }]);
  });

  it('stops writing first on /stop and starts again on /start', () => {
    const s = new Session();
    s.send(command('remind', '08:30'));
    s.send(command('stop'));
    expect(s.state!.stopped).toBe(true);
    s.send(command('start'));
    expect(s.state!.stopped).toBe(false);
  });
});

describe('button data', () => {
  it('round-trips every action and fits Telegram\'s 64 bytes with 40-character ids', () => {
    const id = 'x'.repeat(40);
    const actions = [
      { type: 'next_card', lessonId: id, card: 5 },
      { type: 'answer', itemId: id, option: 4 },
      { type: 'group_answer', quizId: 'lz3k9c1a', question: 9, option: 4 },
      { type: 'lang', lang: 'fr' },
      { type: 'forget', confirm: true },
      { type: 'nudge', choice: 'snooze_tomorrow' },
    ] as const;
    for (const a of actions) {
      const data = encodeAction(a);
      expect(Buffer.byteLength(data)).toBeLessThanOrEqual(64);
      expect(decodeAction(data)).toEqual(a);
    }
    expect(decodeAction('2|m')).toBeUndefined();
    expect(decodeAction('1|a|x|notanumber')).toBeUndefined();
  });
});

describe('screens that say the right thing (issue 10)', () => {
  /** Takes lesson l1 up to the multiple-answer question's feedback, ticking `ticks` there (A and B: partly right). */
  function takeLessonOne(s: Session, ticks = ['A', 'B']): void {
    s.send(command('start', 'l1'));
    s.tap('Next');
    s.tap('Next');
    s.tap('Start the quiz');
    s.tap('B');
    s.tap('Next question');
    s.tap('True');
    s.tap('Next question');
    for (const key of ticks) s.tap(`☐ ${key}`);
    s.tap('Submit answer');
  }

  it('after a partly right multiple-answer question, says which ticks were wrong and which right options were missed', () => {
    const s = new Session();
    takeLessonOne(s);
    const feedback = s.last!.messages[0]!;
    expect(feedback).toMatchObject({ kind: 'feedback', correct: false });
    expect(s.text()).toMatch(/Ticked but wrong: B\./);
    expect(s.text()).toMatch(/Right but not ticked: C\./);
    expect(s.text()).toMatch(/A and C are right/);
  });

  it('counts due items and retention the same way in /progress and /review, right after the first lesson and later', () => {
    const s = new Session();
    takeLessonOne(s, ['A', 'C']);
    s.tap('Next question');
    s.tap('A');
    s.tap('See my score');
    expect(s.text()).toMatch(/Lesson complete: Lesson one\. You got 4 of 4 right\./);
    // Straight after the lesson: nothing is due yet, and both views say so.
    s.send(command('progress'));
    const dueNow = (text: string) => Number(/Reviews due now: (\d+)/.exec(text)?.[1]);
    expect(dueNow(s.text())).toBe(0);
    expect(s.text()).toMatch(/later today: 4/);
    expect(s.text()).not.toMatch(/retention/i);
    s.send(command('review'));
    expect(s.text()).toMatch(/^Nothing to review right now\. The next item is due today at \d\d:\d\d\.$/);
    // An hour later the items of the learning steps are due: /progress counts what /review serves.
    s.now = new Date(s.now.getTime() + 3_600_000);
    s.send(command('progress'));
    const counted = dueNow(s.text());
    expect(counted).toBe(4);
    expect(s.text()).not.toMatch(/retention/i);
    // A review nudge at that moment counts the same items and says so in the same words.
    const nudge = nudgeDue({ ...s.state!, nudges: { ...s.state!.nudges, quietStart: '23:59', quietEnd: '00:00' } }, s.now, { ...DEFAULT_NUDGE_POLICY, quietAfterActivityMs: 0 }, course.items);
    expect(nudge?.dueCount).toBe(counted);
    expect(toPlainText((nudgeMessage(course, s.state!, 'review', nudge!.dueCount, false) as { text: RichText }).text)).toMatch(new RegExp(`^${counted} items are due for review`));
    s.send(command('review'));
    expect(s.text()).toMatch(new RegExp(`^${counted} items to review`));
    // Days later, retention means something and is shown.
    s.send(command('menu'));
    s.now = new Date(s.now.getTime() + 3 * 86_400_000);
    s.send(command('progress'));
    expect(s.text()).toMatch(/Estimated retention: \d+%/);
  });

  it('says that a lesson asked for with /start does not exist, then welcomes', () => {
    const s = new Session();
    s.send(command('start', 'nosuch-lesson'));
    expect(s.text()).toMatch(/^There is no lesson "nosuch-lesson"\. Here is the start of the course instead\.\nWelcome to DiGIT4SD Learning/);
  });

  it('greets a new learner as new, and one who has started but finished nothing without "finished 0"', () => {
    const s = new Session();
    s.send(command('start'));
    expect(s.text()).not.toMatch(/Welcome back/);
    s.tap('Begin module 1');
    s.send(command('start'));
    expect(s.text()).toMatch(/Welcome back! Your first lesson is waiting/);
    expect(s.text()).not.toMatch(/finished 0/);
  });

  it('answers /resume with no reminder set by saying so', () => {
    const s = new Session();
    s.send(command('start'));
    s.send(command('pause'));
    s.send(command('resume'));
    expect(s.text()).toMatch(/No reminder is set/);
    expect(s.text()).not.toMatch(/Reminders are back on/);
    s.send(command('remind', '08:30 daily'));
    expect(s.text()).toMatch(/^Reminder set for 08:30 \(UTC\), every day\./);
    s.send(command('resume'));
    expect(s.text()).toBe('Reminders are back on: 08:30 (UTC), every day.');
  });

  it('answers an empty message', () => {
    const s = new Session();
    s.send(command('start'));
    s.send(text(''));
    expect(s.text()).toMatch(/Your message was empty/);
    expect(s.choices().length).toBeGreaterThan(0);
  });

  it('sums up the stored data in the chat before the full export', () => {
    const s = new Session();
    takeLessonOne(s);
    s.send(command('mydata'));
    expect(s.text()).toMatch(/language English, time zone UTC, 1 lesson started or finished, 3 quiz items with their review schedule, reminder off\. .*digit4sd-mydata\.json/);
    expect(s.last!.effects).toEqual([{ type: 'export' }]);
  });

  it('speaks of options to choose, never of buttons to tap', () => {
    const s = new Session();
    s.send(command('start'));
    s.send(text('blah'));
    expect(s.text()).not.toMatch(/tap/i);
    s.send(command('help'));
    expect(s.text()).not.toMatch(/tap/i);
  });
});
