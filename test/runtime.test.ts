import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { encodeAction } from '../src/engine/actions.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import { LearningBot, type Delivery } from '../src/runtime/bot.js';
import { hashId } from '../src/logger.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { Store } from '../src/store/store.js';
import type { Outbound } from '../src/messages.js';
import { toPlainText } from '../src/messages.js';
import { PlatformError } from '../src/errors.js';
import { TestClock, choice, command, fixtureCourse, inbound } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'digit4sd-runtime-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function makeBot(store: Store, clock = new TestClock(new Date('2026-03-02T09:00:00Z')), onError = vi.fn()) {
  const bot = new LearningBot({ course: fixtureCourse(), store, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, now: clock.now, onError });
  // What the bot posts in groups on its own (a quiz's questions, reveals, final scores).
  const posts: Delivery[] = [];
  bot.connect(async (address, messages) => void posts.push({ address, messages }));
  return { bot, clock, onError, posts };
}

/** Runs the groups' clock once; returns what it posted. */
async function tick(made: { bot: LearningBot; posts: Delivery[] }): Promise<Delivery[]> {
  const from = made.posts.length;
  await made.bot.tick();
  return made.posts.slice(from);
}

const choicesOf = (messages: Outbound[]) => messages.flatMap((m) => ('choices' in m ? (m.choices ?? []) : []));
const tapLabel = (messages: Outbound[], label: string) => {
  const c = choicesOf(messages).find((x) => x.label === label);
  if (!c) throw new Error(`no ${label}`);
  return choice(c.data);
};
const plainOf = (messages: Outbound[]) => messages.map((m) => (m.kind === 'text' ? toPlainText(m.text) : m.kind === 'notice' ? m.text : m.kind)).join('\n');

describe('the runtime', () => {
  it('applies an event delivered twice only once and sends nothing the second time', async () => {
    const store = new SqliteStore(':memory:');
    const { bot } = makeBot(store);
    const start = inbound(command('start'), { id: 'dup-1' });
    const first = await bot.handle(start);
    const begin = inbound(tapLabel(first, 'Begin module 1'), { id: 'dup-2' });
    expect(await bot.handle(begin)).toHaveLength(1);
    const before = await store.getLearner(begin.learner);
    // The platform retries both events.
    expect(await bot.handle(begin)).toEqual([]);
    expect(await bot.handle(start)).toEqual([]);
    const after = await store.getLearner(begin.learner);
    expect(after!.version).toBe(before!.version);
    expect(after!.state.position).toEqual({ kind: 'card', lessonId: 'l1', index: 0 });
  });

  it('applies concurrent events for one learner one after the other, losing none', async () => {
    const store = new SqliteStore(':memory:');
    const { bot } = makeBot(store);
    await bot.handle(inbound(command('start'), { user: 'busy' }));
    // 30 events at once, each of which changes the state: all must be applied.
    const times = Array.from({ length: 30 }, (_, i) => `0${Math.floor(i / 10) + 6}:${String(i % 10).padStart(2, '0')}`.slice(-5));
    await Promise.all(times.map((t) => bot.handle(inbound(command('remind', t), { user: 'busy' }))));
    const rec = await store.getLearner({ channel: 'console', userId: 'busy' });
    expect(rec!.version).toBe(31);
  });

  it('orders concurrent events across two bots (two processes) sharing one store file', async () => {
    const path = join(dir, 'two-bots.sqlite');
    const a = makeBot(new SqliteStore(path));
    const b = makeBot(new SqliteStore(path));
    await a.bot.handle(inbound(command('start'), { user: 'shared' }));
    const events = Array.from({ length: 20 }, (_, i) => inbound(command('remind', `07:${String(i).padStart(2, '0')}`), { user: 'shared' }));
    await Promise.all(events.map((e, i) => (i % 2 ? a.bot : b.bot).handle(e)));
    // And each event delivered again, to the other process: nothing changes.
    await Promise.all(events.map((e, i) => (i % 2 ? b.bot : a.bot).handle(e)));
    const rec = await a.bot.store.getLearner({ channel: 'console', userId: 'shared' });
    expect(rec!.version).toBe(21);
    await a.bot.store.close();
    await b.bot.store.close();
  });

  it('resumes every learner exactly where they left off after a restart', async () => {
    const path = join(dir, 'restart.sqlite');
    const first = makeBot(new SqliteStore(path));
    let out = await first.bot.handle(inbound(command('start'), { user: 'r' }));
    out = await first.bot.handle(inbound(tapLabel(out, 'Begin module 1'), { user: 'r' }));
    out = await first.bot.handle(inbound(tapLabel(out, 'Next'), { user: 'r' }));
    await first.bot.store.close();

    const second = makeBot(new SqliteStore(path));
    const resumed = await second.bot.handle(inbound(command('next'), { user: 'r' }));
    expect(resumed[0]).toMatchObject({ kind: 'card', lessonTitle: 'Lesson one', index: 2 });
    // The old message's button still works after the restart.
    const next = await second.bot.handle(inbound(tapLabel(out, 'Next'), { user: 'r' }));
    expect(next[0]).toMatchObject({ kind: 'card', index: 3 });
    await second.bot.store.close();
  });

  it('erases a learner on /forget and exports their data on /mydata', async () => {
    const store = new SqliteStore(':memory:');
    const { bot } = makeBot(store);
    await bot.handle(inbound(command('start'), { user: 'f' }));
    const data = await bot.handle(inbound(command('mydata'), { user: 'f' }));
    const doc = data.find((m) => m.kind === 'data');
    expect(doc && doc.kind === 'data' && JSON.parse(doc.json).learner.userId).toBe('f');
    const ask = await bot.handle(inbound(command('forget'), { user: 'f' }));
    await bot.handle(inbound(tapLabel(ask, 'Yes, erase everything'), { user: 'f' }));
    expect(await store.getLearner({ channel: 'console', userId: 'f' })).toBeNull();
  });

  it('reports an unexpected failure once, apologises, and leaves the event to be retried', async () => {
    const store = new SqliteStore(':memory:');
    const { bot, onError } = makeBot(store);
    const broken = vi.spyOn(store, 'commitLearner').mockRejectedValueOnce(new Error('disk on fire'));
    const event = inbound(command('start'), { user: 'e' });
    const reply = await bot.handle(event);
    expect(plainOf(reply)).toMatch(/something went wrong/);
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onError.mock.calls[0]![1]).toMatchObject({ where: 'handle', eventId: hashId(event.id) });
    broken.mockRestore();
    // The platform's retry now succeeds.
    const retry = await bot.handle(event);
    expect(plainOf(retry)).toMatch(/DiGIT4SD/);
  });
});

describe('the running tally of a group without private notices', () => {
  it('is sent again by the group\'s clock when the platform failed it, and never shows a forgotten member\'s name', async () => {
    const store = new SqliteStore(':memory:');
    const clock = new TestClock(new Date('2026-03-02T09:00:00Z'));
    const onError = vi.fn();
    const bot = new LearningBot({ course: fixtureCourse(), store, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, now: clock.now, onError, owedLeaseMs: 10_000 });
    const tallies: Outbound[] = [];
    let failNext = false;
    bot.connect(
      async (_address, messages) => {
        const tally = messages.find((m) => m.kind === 'tally');
        if (!tally) return {};
        if (failNext) {
          failNext = false;
          throw new PlatformError({ platform: 'teams', method: 'sendActivity', status: 502, description: 'HTTP 502' });
        }
        tallies.push(tally);
        return tally.kind === 'tally' && !tally.messageRef ? { [`${tally.teamQuestion.quizId}:${tally.teamQuestion.index}:tally`]: 'act-tally' } : {};
      },
      (channel) => channel === 'console',
    );
    await bot.handle(inbound(command('quiz', 'm1 2'), { user: 'ana', group: 'room' }));
    await bot.settled();
    const quizId = (await store.getGroup({ channel: 'console', conversationId: 'room' }))!.state.quiz!.id;
    const tap = (user: string) => bot.handle(inbound(choice(encodeAction({ type: 'group_answer', quizId, question: 0, option: 0 })), { user, group: 'room', name: user.toUpperCase() }));
    await tap('ana');
    await bot.settled();
    expect(tallies.map((m) => (m.kind === 'tally' ? [m.text, m.messageRef ?? null] : []))).toEqual([['Answered so far (1): ANA', null]]);
    // Ben answers; the clock's look after the spacing fails (a 502): the claim is left to lapse.
    clock.advance(500);
    await tap('ben');
    await bot.settled();
    failNext = true;
    clock.advance(1500);
    await bot.tick();
    expect(tallies).toHaveLength(1);
    expect(onError).toHaveBeenCalledWith(expect.any(PlatformError), expect.objectContaining({ where: 'group-tally', retryable: true }));
    // Ana forgets herself meanwhile; once the claim lapses, the clock sends the tally again, editing the same message.
    const ask = await bot.handle(inbound(command('forget'), { user: 'ana' }));
    expect(plainOf(await bot.handle(inbound(tapLabel(ask, 'Yes, erase everything'), { user: 'ana' })))).toMatch(/erased/);
    clock.advance(5000);
    await bot.tick();
    expect(tallies).toHaveLength(1);
    clock.advance(6000);
    await bot.tick();
    expect(tallies.map((m) => (m.kind === 'tally' ? [m.text, m.messageRef ?? null] : [])).slice(1)).toEqual([['Answered so far (2): a former participant, BEN', 'act-tally']]);
  });
});

describe('team quizzes in a group conversation', () => {
  const members = ['ana', 'ben', 'chi'];

  async function startQuiz(args = 'm1 2') {
    const store = new SqliteStore(':memory:');
    const made = makeBot(store);
    expect(await made.bot.handle(inbound(command('quiz', args), { user: 'ana', group: 'room' }))).toEqual([]);
    await made.bot.settled();
    const out = made.posts.flatMap((d) => d.messages);
    const question = out.find((m) => m.kind === 'quiz');
    if (question?.kind !== 'quiz') throw new Error('no question');
    return { ...made, store, out, question };
  }

  const answer = (bot: LearningBot, user: string, data: string, id?: string) => bot.handle(inbound(choice(data), { user, group: 'room', name: user.toUpperCase(), ...(id ? { id } : {}) }));

  it('posts a question every member can answer once, privately confirmed', async () => {
    const { bot, question, out } = await startQuiz();
    expect(plainOf(out)).toMatch(/Team quiz: 2 questions, 30 seconds each/);
    const first = await answer(bot, 'ana', question.choices[0]!.data, 'ans-1');
    expect(first).toEqual([{ kind: 'notice', text: expect.stringMatching(/Answer recorded: A/), reason: 'recorded', teamQuestion: question.teamQuestion }]);
    expect(await answer(bot, 'ana', question.choices[1]!.data)).toEqual([{ kind: 'notice', text: 'You already answered this question.', reason: 'already_answered' }]);
    // A retried delivery of the same tap sends nothing.
    expect(await answer(bot, 'ana', question.choices[0]!.data, 'ans-1')).toEqual([]);
  });

  it('sends nothing when a refused second answer is delivered again', async () => {
    const { bot, question, store } = await startQuiz();
    await answer(bot, 'ben', question.choices[0]!.data, 'ben-1');
    const refused = await answer(bot, 'ben', question.choices[1]!.data, 'ben-2');
    expect(refused).toEqual([{ kind: 'notice', text: 'You already answered this question.', reason: 'already_answered' }]);
    expect(await store.isProcessed('console', 'ben-2')).toBe(true);
    // The platform retries the refused tap: no second notice.
    expect(await answer(bot, 'ben', question.choices[1]!.data, 'ben-2')).toEqual([]);
    expect(await answer(bot, 'ben', question.choices[0]!.data, 'ben-2')).toEqual([]);
    const answers = await store.listGroupAnswers({ channel: 'console', conversationId: 'room' }, decodeQuiz(question), 0);
    expect(answers.filter((a) => a.userId === 'ben').map((a) => a.option)).toEqual([0]);
  });

  it('sends nothing when a refused answer is redelivered by a store that did not record its event id', async () => {
    // The contract says an 'already_answered' event counts as applied; the runtime records it too,
    // so that a redelivery is silent whatever the store did.
    const { bot, question, store } = await startQuiz();
    await answer(bot, 'chi', question.choices[0]!.data, 'chi-1');
    const record = store.recordGroupAnswer.bind(store);
    const forgetful = vi.spyOn(store, 'recordGroupAnswer').mockImplementation(async (a) => {
      if (await store.isProcessed(a.key.channel, a.eventId)) return 'duplicate';
      // A store that refuses the answer without recording the event id (but honours recorded ids).
      const answered = (await store.listGroupAnswers(a.key, a.quizId, a.question)).some((x) => x.userId === a.userId);
      return answered ? 'already_answered' : record(a);
    });
    expect(await answer(bot, 'chi', question.choices[1]!.data, 'chi-2')).toEqual([{ kind: 'notice', text: 'You already answered this question.', reason: 'already_answered' }]);
    expect(await answer(bot, 'chi', question.choices[1]!.data, 'chi-2')).toEqual([]);
    forgetful.mockRestore();
  });

  it('reveals the answer, the explanation and who got it right when time is up, then asks the next question', async () => {
    const made = await startQuiz();
    const { bot, clock, question, store } = made;
    const item = fixtureCourse().items.get(question.itemId)!;
    const right = item.options.findIndex((o) => o.correct);
    const wrong = item.options.findIndex((o) => !o.correct);
    await answer(bot, 'ana', encodeAction({ type: 'group_answer', quizId: decodeQuiz(question), question: 0, option: right }));
    await answer(bot, 'ben', encodeAction({ type: 'group_answer', quizId: decodeQuiz(question), question: 0, option: wrong }));
    expect(await tick(made)).toEqual([]);
    clock.advance(31_000);
    const [delivery] = await tick(made);
    expect(delivery!.address).toMatchObject({ conversationId: 'room', kind: 'group' });
    const revealed = plainOf(delivery!.messages);
    expect(revealed).toContain(item.explanation);
    expect(revealed).toMatch(/1 of 2 got it right/);
    expect(revealed).toMatch(/Right: ANA/);
    // The plan: the question's buttons go, then the reveal, then the next question.
    expect(delivery!.messages[0]).toMatchObject({ kind: 'close', teamQuestion: question.teamQuestion });
    expect(delivery!.messages.at(-1)).toMatchObject({ kind: 'quiz', heading: expect.stringMatching(/question 2 of 2/) });
    // Closing again does nothing: one closer wins.
    expect(await tick(made)).toEqual([]);
    const board = await store.leaderboard({ channel: 'console', conversationId: 'room' }, 10);
    expect(board.map((r) => r.userId)).toEqual(['ana', 'ben']);
    expect(board[0]!.points).toBeGreaterThanOrEqual(10);
  });

  it('closes a question early once everyone who joined has answered, and ends with scores and a leaderboard', async () => {
    const made = await startQuiz();
    const { bot, clock, question } = made;
    const quizId = decodeQuiz(question);
    for (const m of members) await answer(bot, m, encodeAction({ type: 'group_answer', quizId, question: 0, option: 0 }));
    clock.advance(31_000);
    const [first] = await tick(made);
    expect(first).toBeDefined();
    // Question 2: once all three joined members answered, it closes without waiting.
    await answer(bot, 'ana', encodeAction({ type: 'group_answer', quizId, question: 1, option: 0 }));
    await answer(bot, 'ben', encodeAction({ type: 'group_answer', quizId, question: 1, option: 0 }));
    const from = made.posts.length;
    const last = await answer(bot, 'chi', encodeAction({ type: 'group_answer', quizId, question: 1, option: 0 }));
    expect(last).toMatchObject([{ kind: 'notice', reason: 'recorded' }]);
    await bot.settled();
    expect(plainOf(made.posts.slice(from).flatMap((d) => d.messages))).toMatch(/Team quiz over!/);
    const board = await bot.handle(inbound(command('leaderboard'), { user: 'ben', group: 'room' }));
    expect(plainOf(board)).toMatch(/Leaderboard for this group/);
    for (const m of members) expect(plainOf(board)).toContain(m.toUpperCase());
    // A late tap on a closed question is refused privately.
    expect(await answer(bot, 'ana', encodeAction({ type: 'group_answer', quizId, question: 0, option: 1 }))).toEqual([{ kind: 'notice', text: 'This question is closed.', reason: 'closed' }]);
  });

  it('keeps a running quiz when /quiz is sent again, and points learners to a private chat for lessons', async () => {
    const { bot } = await startQuiz();
    const again = await bot.handle(inbound(command('quiz'), { user: 'ben', group: 'room' }));
    expect(plainOf(again)).toMatch(/already running/);
    const lesson = await bot.handle(inbound(command('next'), { user: 'ben', group: 'room' }));
    expect(plainOf(lesson)).toMatch(/private chat/);
  });

  it('refuses a forged answer (an option the question does not have, or a question that is not open) and records nothing', async () => {
    const { bot, question, store } = await startQuiz();
    const quizId = decodeQuiz(question);
    expect(await answer(bot, 'ana', encodeAction({ type: 'group_answer', quizId, question: 0, option: 9999 }))).toEqual([
      { kind: 'notice', text: "That answer is not one of this question's options.", reason: 'refused' },
    ]);
    expect(await answer(bot, 'ben', encodeAction({ type: 'group_answer', quizId, question: 1, option: 0 }))).toMatchObject([{ reason: 'closed' }]);
    expect(await answer(bot, 'chi', encodeAction({ type: 'group_answer', quizId: 'forged', question: 0, option: 0 }))).toMatchObject([{ reason: 'closed' }]);
    const room = { channel: 'console' as const, conversationId: 'room' };
    expect(await store.listGroupAnswers(room, quizId, 0)).toEqual([]);
    expect(await store.listGroupAnswers(room, quizId, 1)).toEqual([]);
    // The forger may still answer properly.
    expect(await answer(bot, 'ana', encodeAction({ type: 'group_answer', quizId, question: 0, option: 1 }))).toMatchObject([{ reason: 'recorded' }]);
  });

  it('reads the open question inside the group lock: an answer racing the answer that closes the question is refused, not lost', async () => {
    const made = await startQuiz();
    const { bot, clock, question, store } = made;
    const quizId = decodeQuiz(question);
    await answer(bot, 'ana', encodeAction({ type: 'group_answer', quizId, question: 0, option: 0 }));
    await answer(bot, 'ben', encodeAction({ type: 'group_answer', quizId, question: 0, option: 0 }));
    clock.advance(31_000);
    await tick(made);
    // Question 2: ana and ben joined; ben's answer closes it, while newcomer dee taps at the same moment.
    await answer(bot, 'ana', encodeAction({ type: 'group_answer', quizId, question: 1, option: 0 }));
    const [closing, racing] = await Promise.all([
      answer(bot, 'ben', encodeAction({ type: 'group_answer', quizId, question: 1, option: 0 })),
      answer(bot, 'dee', encodeAction({ type: 'group_answer', quizId, question: 1, option: 0 })),
    ]);
    expect(closing).toMatchObject([{ reason: 'recorded' }]);
    expect(racing).toMatchObject([{ reason: 'closed' }]);
    expect((await store.listGroupAnswers({ channel: 'console', conversationId: 'room' }, quizId, 1)).map((a) => a.userId).sort()).toEqual(['ana', 'ben']);
  });

  it('keeps a reveal owed until the channel delivers it: a failed send is tried again, never skipped', async () => {
    const made = await startQuiz('m1 1');
    const { bot, clock, store } = made;
    let failures = 1;
    bot.connect(async (address, messages) => {
      if (failures-- > 0) throw new PlatformError({ platform: 'console', method: 'send', status: 502, description: 'bad gateway' });
      made.posts.push({ address, messages });
    });
    clock.advance(31_000);
    expect(await tick(made)).toEqual([]);
    expect(made.onError).toHaveBeenCalledWith(expect.any(PlatformError), expect.objectContaining({ where: 'group-delivery', retryable: true }));
    const group = await store.getGroup({ channel: 'console', conversationId: 'room' });
    expect(group!.state.quiz).toBeNull();
    expect(group!.state.owed).toHaveLength(1);
    // The claim lapses; the next tick sends the reveal and the final scores, once.
    clock.advance(61_000);
    const [sent, ...more] = await tick(made);
    expect(more).toEqual([]);
    expect(plainOf(sent!.messages)).toMatch(/Team quiz over!/);
    expect(await tick(made)).toEqual([]);
    expect((await store.getGroup({ channel: 'console', conversationId: 'room' }))!.state.owed).toBeUndefined();
  });

  it('drops an owed post the platform refuses for good, reports it once, and goes on', async () => {
    const made = await startQuiz('m1 2');
    const { bot, clock, onError } = made;
    bot.connect(async () => {
      throw new PlatformError({ platform: 'console', method: 'send', status: 400, description: 'bad request' });
    });
    clock.advance(31_000);
    await tick(made);
    expect(onError).toHaveBeenCalledTimes(1);
    expect(onError).toHaveBeenCalledWith(expect.any(PlatformError), expect.objectContaining({ where: 'group-delivery', retryable: false }));
    expect((await made.store.getGroup({ channel: 'console', conversationId: 'room' }))!.state.owed).toBeUndefined();
  });

  it('records hundreds of answers arriving in the same second without losing one', async () => {
    const { bot, question, store } = await startQuiz('m1 1');
    const quizId = decodeQuiz(question);
    const replies = await Promise.all(
      Array.from({ length: 200 }, (_, i) => answer(bot, `p${i}`, encodeAction({ type: 'group_answer', quizId, question: 0, option: i % 2 }))),
    );
    expect(replies.every((r) => r[0]?.kind === 'notice')).toBe(true);
    expect(await store.listGroupAnswers({ channel: 'console', conversationId: 'room' }, quizId, 0)).toHaveLength(200);
  });
});

describe('weekly team quizzes', () => {
  const room = { channel: 'console' as const, conversationId: 'room' };
  const say = (bot: LearningBot, args: string, id?: string) => bot.handle(inbound(command('schedule', args), { user: 'ana', group: 'room', ...(id ? { id } : {}) }));

  /** Lets every question of the running quiz time out, so that the next scheduled one can start. */
  async function finishQuiz(bot: LearningBot, clock: TestClock, store: Store): Promise<void> {
    for (let i = 0; i < 20 && (await store.getGroup(room))?.state.quiz; i++) {
      clock.advance(31_000);
      await bot.tick();
    }
    expect((await store.getGroup(room))!.state.quiz).toBeNull();
  }

  /** What a tick at `iso` posts (a scheduled start's introduction and first question). */
  async function tickAt(bot: LearningBot, clock: TestClock, iso: string): Promise<Delivery[]> {
    clock.set(iso);
    return tick({ bot, posts: posted.get(bot)! });
  }
  const posted = new Map<LearningBot, Delivery[]>();
  function scheduled(store: Store, clock?: TestClock) {
    const made = makeBot(store, clock);
    posted.set(made.bot, made.posts);
    return made;
  }

  it('starts the quiz at Friday 15:00 local time, once, again a week later, and at 15:00 local across a daylight-saving change', async () => {
    // Monday 2 March 2026; Paris is UTC+1 until Sunday 29 March, then UTC+2.
    const store = new SqliteStore(':memory:');
    const { bot, clock } = scheduled(store);
    const reply = await say(bot, 'fri 15:00 Europe/Paris');
    expect(plainOf(reply)).toBe('Weekly team quiz: every Friday at 15:00 (Europe/Paris). The next one starts on March 6.');

    expect(await tickAt(bot, clock, '2026-03-06T13:59:59Z')).toEqual([]);
    const [first, ...others] = await tickAt(bot, clock, '2026-03-06T14:00:00Z');
    expect(others).toEqual([]);
    expect(first!.address).toMatchObject({ conversationId: 'room', kind: 'group' });
    expect(plainOf(first!.messages)).toMatch(/Team quiz: \d+ questions, 30 seconds each/);
    expect(first!.messages.at(-1)).toMatchObject({ kind: 'quiz', heading: expect.stringMatching(/question 1 of/) });
    // Once: later ticks the same minute find nothing.
    expect(await tickAt(bot, clock, '2026-03-06T14:00:01Z')).toEqual([]);
    expect((await store.getGroup(room))!.state.schedule!.next).toBe('2026-03-13T14:00:00.000Z');
    await finishQuiz(bot, clock, store);

    expect(await tickAt(bot, clock, '2026-03-13T13:59:00Z')).toEqual([]);
    expect(await tickAt(bot, clock, '2026-03-13T14:00:00Z')).toHaveLength(1);
    await finishQuiz(bot, clock, store);
    expect(await tickAt(bot, clock, '2026-03-20T14:00:00Z')).toHaveLength(1);
    await finishQuiz(bot, clock, store);
    expect(await tickAt(bot, clock, '2026-03-27T14:00:00Z')).toHaveLength(1);
    await finishQuiz(bot, clock, store);

    // After the change to summer time, 15:00 in Paris is 13:00 UTC.
    expect((await store.getGroup(room))!.state.schedule!.next).toBe('2026-04-03T13:00:00.000Z');
    expect(await tickAt(bot, clock, '2026-04-03T12:59:59Z')).toEqual([]);
    expect(await tickAt(bot, clock, '2026-04-03T13:00:00Z')).toHaveLength(1);
    // An hour later the tick only closes the quiz's timed-out question: no second start.
    expect(plainOf((await tickAt(bot, clock, '2026-04-03T14:00:00Z')).flatMap((d) => d.messages))).not.toMatch(/Team quiz: \d+ questions/);
  });

  it('stops with `schedule off`', async () => {
    const store = new SqliteStore(':memory:');
    const { bot, clock } = scheduled(store);
    await say(bot, 'fri 15:00');
    expect(plainOf(await say(bot, ''))).toMatch(/every Friday at 15:00 \(UTC\)/);
    expect(plainOf(await say(bot, 'off'))).toBe('Weekly team quiz turned off. Start one any time with /quiz.');
    expect((await store.getGroup(room))!.state.schedule).toBeNull();
    expect(await store.groupQuizzesDue(new Date('2026-12-31T00:00:00Z'), 10)).toEqual([]);
    expect(await tickAt(bot, clock, '2026-03-06T15:00:00Z')).toEqual([]);
    expect(await tickAt(bot, clock, '2026-03-13T15:00:00Z')).toEqual([]);
    expect(plainOf(await say(bot, ''))).toMatch(/No weekly team quiz is scheduled here/);
  });

  it('applies a schedule command once when it is delivered twice, and changes nothing on a bad argument', async () => {
    const store = new SqliteStore(':memory:');
    const { bot } = makeBot(store);
    expect(plainOf(await say(bot, 'fri 15:00 Africa/Nairobi', 'sch-1'))).toMatch(/every Friday at 15:00 \(Africa\/Nairobi\)/);
    expect(await say(bot, 'fri 15:00 Africa/Nairobi', 'sch-1')).toEqual([]);
    const version = (await store.getGroup(room))!.version;
    expect(plainOf(await say(bot, 'fri 15:00 Mars/Olympus'))).toMatch(/I don't know the time zone "Mars\/Olympus"/);
    expect(plainOf(await say(bot, 'someday'))).toMatch(/^Usage: \/schedule fri 15:00/);
    // Without a zone, the one given before is kept.
    expect(plainOf(await say(bot, 'mon 09:30'))).toMatch(/every Monday at 09:30 \(Africa\/Nairobi\)/);
    expect((await store.getGroup(room))!.version).toBe(version + 1);
  });

  it('starts each scheduled quiz in one process only, when several tick at once', async () => {
    const path = join(dir, 'scheduled-two-bots.sqlite');
    const clock = new TestClock(new Date('2026-03-02T09:00:00Z'));
    const bots = [makeBot(new SqliteStore(path), clock), makeBot(new SqliteStore(path), clock), makeBot(new SqliteStore(path), clock)];
    await say(bots[0]!.bot, 'fri 15:00');
    clock.set('2026-03-06T15:00:00Z');
    const started = (await Promise.all(bots.map((b) => tick(b)))).flat();
    expect(started).toHaveLength(1);
    expect((await bots[1]!.bot.store.getGroup(room))!.state.schedule!.next).toBe('2026-03-13T15:00:00.000Z');
    for (const b of bots) await b.bot.store.close();
  });

  it('skips a start it finds too late (the bot was down) or while a quiz is running, and moves on to the next week', async () => {
    const store = new SqliteStore(':memory:');
    const { bot, clock } = scheduled(store);
    await say(bot, 'fri 15:00');
    // Down from Friday afternoon to Saturday: no quiz at 9 in the morning.
    expect(await tickAt(bot, clock, '2026-03-07T09:00:00Z')).toEqual([]);
    expect((await store.getGroup(room))!.state.schedule!.next).toBe('2026-03-13T15:00:00.000Z');
    // A few minutes late is fine.
    expect(await tickAt(bot, clock, '2026-03-13T15:04:00Z')).toHaveLength(1);
    await finishQuiz(bot, clock, store);
    // A team quiz started by hand is still running at the next start: it is left alone.
    clock.set('2026-03-20T14:59:50Z');
    await bot.handle(inbound(command('quiz'), { user: 'ben', group: 'room' }));
    await bot.settled();
    const running = (await store.getGroup(room))!.state.quiz!.id;
    expect(await tickAt(bot, clock, '2026-03-20T15:00:00Z')).toEqual([]);
    const after = (await store.getGroup(room))!.state;
    expect(after.quiz!.id).toBe(running);
    expect(after.schedule!.next).toBe('2026-03-27T15:00:00.000Z');
  });
});

function decodeQuiz(q: Extract<Outbound, { kind: 'quiz' }>): string {
  return q.choices[0]!.data.split('|')[2]!;
}
