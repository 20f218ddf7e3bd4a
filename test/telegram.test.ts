/**
 * The Telegram channel end to end: the real grammY client against a local fake of the Bot API,
 * a real LearningBot on an in-memory SQLite store and the fixture course.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TelegramAdapter, type TelegramSettings } from '../adapters/telegram/adapter.js';
import { createTelegramChannel } from '../adapters/telegram/index.js';
import type { ChannelContext } from '../src/channel.js';
import { correctIndices } from '../src/content/course.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import { PlatformError } from '../src/errors.js';
import { createLogger } from '../src/logger.js';
import { plain } from '../src/messages.js';
import { LearningBot } from '../src/runtime/bot.js';
import { createHttpApp, listen } from '../src/server.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { FakeTelegram, type TgChat, type TgUpdate, type TgUser } from './fakes/telegram-api.js';
import { fixtureCourse, TestClock } from './helpers.js';

const ana: TgUser = { id: 1001, is_bot: false, first_name: 'Ana', last_name: 'Silva', username: 'ana_s', language_code: 'en' };
const bob: TgUser = { id: 1002, is_bot: false, first_name: 'Bob <&>', language_code: 'en' };
const chen: TgUser = { id: 1003, is_bot: false, first_name: 'Chen', language_code: 'en' };
const team: TgChat = { id: -1001234567890, type: 'supergroup', title: 'Team <DESA>', username: 'desa_team' };

const FAST_THROTTLE = { global: {}, group: { maxConcurrent: 1 }, out: { maxConcurrent: 1 } };
const WEBHOOK_URL = 'https://bot.example.org/telegram/hook';
const SECRET = 'test_secret-123';

interface Harness {
  fake: FakeTelegram;
  bot: LearningBot;
  store: SqliteStore;
  clock: TestClock;
  channel: TelegramAdapter;
  errors: { err: unknown; context: Record<string, unknown> }[];
  server?: Server;
  /** Posts an update to the webhook; resolves with the HTTP status. */
  post(update: TgUpdate, secret?: string | null): Promise<number>;
}

const open: Harness[] = [];

async function harness(mode: 'polling' | 'webhook', throttle: typeof FAST_THROTTLE = FAST_THROTTLE): Promise<Harness> {
  const fake = new FakeTelegram();
  await fake.start();
  const clock = new TestClock(new Date('2026-03-02T09:00:00Z'));
  const store = new SqliteStore(':memory:');
  const errors: Harness['errors'] = [];
  const onError = (err: unknown, context: Record<string, unknown>) => errors.push({ err, context });
  const bot = new LearningBot({
    course: fixtureCourse(),
    store,
    engine: DEFAULT_ENGINE_OPTIONS,
    group: { ...DEFAULT_GROUP_OPTIONS, questionSeconds: 30 },
    now: clock.now,
    onError,
  });
  const http = createHttpApp([]);
  // Waits between retries run on the test's clock: no wall time passes.
  const ctx: ChannelContext = { port: bot, http, logger: createLogger('silent'), now: clock.now, sleep: async (ms) => clock.advance(ms) };
  const settings: TelegramSettings = {
    token: fake.token,
    apiRoot: fake.apiRoot,
    ...(mode === 'webhook' ? { webhookUrl: WEBHOOK_URL, webhookSecret: SECRET } : {}),
  };
  const channel = createTelegramChannel(settings, ctx, { throttle, retry: { attempts: 3, baseMs: 5, maxMs: 5000 } }) as TelegramAdapter;
  bot.connect((address, messages) => channel.send(address, messages));
  const server = mode === 'webhook' ? await listen(http, 0, '127.0.0.1') : undefined;
  await channel.start();
  const h: Harness = {
    fake,
    bot,
    store,
    clock,
    channel,
    errors,
    ...(server ? { server } : {}),
    async post(update, secret = SECRET) {
      const { port } = server!.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/telegram/hook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(secret ? { 'x-telegram-bot-api-secret-token': secret } : {}) },
        body: JSON.stringify(update),
      });
      await res.text();
      return res.status;
    },
  };
  open.push(h);
  return h;
}

afterEach(async () => {
  for (const h of open.splice(0)) {
    await h.channel.stop();
    if (h.server) await new Promise<void>((r) => h.server!.close(() => r()));
    await h.fake.stop();
    await h.store.close();
  }
});

/** Pushes updates to the polling bot and waits until it has handled them. */
async function deliver(h: Harness, ...updates: TgUpdate[]): Promise<void> {
  h.fake.push(...updates);
  await h.fake.handled(Math.max(...updates.map((u) => u.update_id)));
}

function buttons(h: Harness, chatId: number): string[] {
  return h.fake.lastTo(chatId).message.reply_markup?.inline_keyboard.flat().map((b) => b.text) ?? [];
}

describe('Telegram channel: a learner in a private chat (long polling)', () => {
  it('goes through /start, a lesson, its quiz (answers edited in place) and a reminder', async () => {
    const h = await harness('polling');
    const { fake } = h;
    expect(fake.callsOf('getMe')).toHaveLength(1);
    expect(fake.callsOf('deleteWebhook')).toHaveLength(1);

    // Command menus in every interface language, for private chats and groups.
    const menus = fake.callsOf('setMyCommands').map((c) => c.payload as { commands: { command: string; description: string }[]; scope: { type: string }; language_code?: string });
    expect(menus.map((m) => `${m.scope.type}:${m.language_code ?? ''}`).sort()).toEqual(
      ['all_group_chats:', 'all_group_chats:es', 'all_group_chats:fr', 'all_private_chats:', 'all_private_chats:es', 'all_private_chats:fr'].sort(),
    );
    const frPrivate = menus.find((m) => m.scope.type === 'all_private_chats' && m.language_code === 'fr')!;
    expect(frPrivate.commands.map((c) => c.command)).toEqual(expect.arrayContaining(['start', 'help', 'next', 'quiz', 'review', 'remind', 'mydata']));
    expect(frPrivate.commands.find((c) => c.command === 'next')!.description).toMatch(/^Reprendre/);
    expect(menus.find((m) => m.scope.type === 'all_group_chats' && !m.language_code)!.commands.map((c) => c.command)).toEqual(['quiz', 'leaderboard', 'schedule']);

    await deliver(h, fake.message(ana, '/start'));
    const welcome = fake.lastTo(ana.id);
    expect(welcome.html).toContain('<b>Welcome to DiGIT4SD Learning</b>');
    expect(welcome.html).toContain('<i>Digital Government Implementation Toolkit for Sustainable Development</i>');
    expect(buttons(h, ana.id)).toEqual(['Begin module 1', 'Pick a module']);

    const begin = fake.tap(ana, welcome, 'Begin module 1');
    await deliver(h, begin);
    expect(fake.callsOf('answerCallbackQuery').map((c) => c.payload.callback_query_id)).toEqual([begin.callback_query!.id]);
    const card1 = fake.lastTo(ana.id);
    expect(card1.html).toMatch(/^<b>Lesson one<\/b> · 1\/3/);
    expect(card1.html).toContain('<a href="https://example.org/l1">link</a>');
    expect(buttons(h, ana.id)).toEqual(['Next', 'Menu']);

    await deliver(h, fake.tap(ana, card1, 'Next'));
    const card2 = fake.lastTo(ana.id);
    expect(card2.html).toContain('• one point');
    await deliver(h, fake.tap(ana, card2, 'Next'));
    const card3 = fake.lastTo(ana.id);
    expect(buttons(h, ana.id)).toEqual(['Start the quiz', 'Menu']);
    await deliver(h, fake.tap(ana, card3, 'Start the quiz'));

    // q1 (single, B is right): the answer edits the question message instead of a new message.
    const q1 = fake.lastTo(ana.id);
    expect(q1.message.text).toContain('Which option is right in l1 q1?');
    expect(buttons(h, ana.id)).toEqual(['A', 'B', 'C']);
    const sentBefore = fake.sent.length;
    await deliver(h, fake.tap(ana, q1, 'B'));
    expect(fake.sent.length).toBe(sentBefore);
    expect(q1.edits).toBe(1);
    expect(q1.message.text).toContain('✅ B. Right B');
    expect(q1.message.text).toContain('Right!');
    expect(q1.message.text).toContain('B is right because the fixture says so.');
    expect(q1.message.reply_markup?.inline_keyboard.flat().map((b) => b.text)).toEqual(['Next question']);

    // q2 (true/false, True is right): a wrong answer is marked as such.
    await deliver(h, fake.tap(ana, q1, 'Next question'));
    const q2 = fake.lastTo(ana.id);
    expect(buttons(h, ana.id)).toEqual(['True', 'False']);
    await deliver(h, fake.tap(ana, q2, 'False'));
    expect(q2.message.text).toContain('Not quite.');
    expect(q2.message.text).toContain('❌ B. False');
    expect(q2.message.text).toContain('✅ A. True');

    // q3 (multiple, A and C): ticking edits the question in place, Submit shows the result.
    await deliver(h, fake.tap(ana, q2, 'Next question'));
    const q3 = fake.lastTo(ana.id);
    expect(buttons(h, ana.id)).toEqual(['☐ A', '☐ B', '☐ C', 'Submit answer']);
    await deliver(h, fake.tap(ana, q3, '☐ A'));
    expect(q3.message.reply_markup?.inline_keyboard.flat().map((b) => b.text)).toEqual(['☑ A', '☐ B', '☐ C', 'Submit answer']);
    await deliver(h, fake.tap(ana, q3, '☐ C'));
    await deliver(h, fake.tap(ana, q3, 'Submit answer'));
    expect(fake.lastTo(ana.id)).toBe(q3);
    expect(q3.edits).toBe(3);
    expect(q3.message.text).toContain('Right!');

    await deliver(h, fake.tap(ana, q3, 'Next question'));
    const q4 = fake.lastTo(ana.id);
    await deliver(h, fake.tap(ana, q4, 'A'));
    expect(buttons(h, ana.id)).toEqual(['See my score']);
    await deliver(h, fake.tap(ana, q4, 'See my score'));
    expect(fake.lastTo(ana.id).message.text).toContain('Lesson complete: Lesson one. You got 3 of 4 right.');
    expect(buttons(h, ana.id)[0]).toBe('Next: Lesson two');

    // A tap on a button of an old message gets a graceful answer (and its spinner stops).
    const stale = fake.tap(ana, card1, 'Next');
    await deliver(h, stale);
    expect(fake.callsOf('answerCallbackQuery').some((c) => c.payload.callback_query_id === stale.callback_query!.id)).toBe(true);
    expect(fake.sentTo(ana.id).slice(-2)[0]!.message.text).toContain('That button belongs to an earlier message');
    // Every tap was answered exactly once.
    const taps = fake.callsOf('answerCallbackQuery').map((c) => c.payload.callback_query_id);
    expect(new Set(taps).size).toBe(taps.length);

    // A reminder, as the scheduler sends it: proactively, to the address the store kept.
    const record = await h.store.getLearner({ channel: 'telegram', userId: String(ana.id) });
    expect(record?.address).toEqual({ channel: 'telegram', conversationId: String(ana.id), kind: 'direct' });
    await h.channel.send(record!.address, [{ kind: 'text', text: plain("Time for today's lesson: Lesson two (about 3 min)."), choices: [{ label: 'Start now', data: '1|r' }] }]);
    const reminder = fake.lastTo(ana.id);
    expect(reminder.message.text).toBe("Time for today's lesson: Lesson two (about 3 min).");
    await deliver(h, fake.tap(ana, reminder, 'Start now'));
    expect(fake.lastTo(ana.id).html).toMatch(/^<b>Lesson two<\/b> · 1\/3/);

    expect(fake.problems).toEqual([]);
    expect(h.errors).toEqual([]);
  });

  it('processes the same update once when Telegram delivers it twice', async () => {
    const h = await harness('polling');
    await deliver(h, h.fake.message(ana, '/start'));
    const progress = h.fake.message(ana, '/progress');
    await deliver(h, progress, progress);
    expect(h.fake.sentTo(ana.id).filter((m) => m.message.text?.startsWith('Your progress'))).toHaveLength(1);
    const welcome = h.fake.sentTo(ana.id)[0]!;
    const tap = h.fake.tap(ana, welcome, 'Begin module 1');
    await deliver(h, tap, tap);
    expect(h.fake.sentTo(ana.id).filter((m) => m.html.startsWith('<b>Lesson one</b>'))).toHaveLength(1);
    expect(h.errors).toEqual([]);
  });

  it('opens the course at a lesson from a deep link, and sends /mydata as a document', async () => {
    const h = await harness('polling');
    await deliver(h, h.fake.message(chen, '/start l2'));
    expect(h.fake.lastTo(chen.id).html).toMatch(/^<b>Lesson two<\/b> · 1\/3/);
    await deliver(h, h.fake.message(chen, '/mydata'));
    expect(h.fake.sentTo(chen.id).some((m) => /Everything stored about you, in short/.test(m.html))).toBe(true);
    const doc = h.fake.callsOf('sendDocument')[0]!;
    expect(doc.payload.document_filename).toBe('digit4sd-mydata.json');
    expect(JSON.parse(String(doc.payload.document)).learner.userId).toBe(String(chen.id));
  });

  it('honours 429 retry_after on replies and proactive sends alike, and translates refusals for the scheduler', async () => {
    const h = await harness('polling');
    await deliver(h, h.fake.message(ana, '/start'));
    h.fake.failNext('sendMessage', { error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } });
    await deliver(h, h.fake.message(ana, '/help'));
    const helps = h.fake.callsOf('sendMessage').filter((c) => String(c.payload.text).includes('How to use this bot'));
    expect(helps).toHaveLength(2); // refused once, then sent after retry_after
    expect(h.fake.lastTo(ana.id).html).toContain('How to use this bot');
    expect(h.errors).toEqual([]);

    const address = { channel: 'telegram' as const, conversationId: String(ana.id), kind: 'direct' as const };
    // A proactive send waits out a short 429 too (on the test's clock), and goes through.
    const before = h.clock.now().getTime();
    h.fake.failNext('sendMessage', { error_code: 429, description: 'Too Many Requests: retry after 2', parameters: { retry_after: 2 } });
    await h.channel.send(address, [{ kind: 'text', text: plain('first nudge') }]);
    expect(h.fake.lastTo(ana.id).message.text).toBe('first nudge');
    expect(h.clock.now().getTime() - before).toBeGreaterThanOrEqual(2000);
    // A wait longer than the policy's longest (5 s here) goes back to the scheduler, with its retry_after.
    h.fake.failNext('sendMessage', { error_code: 429, description: 'Too Many Requests: retry after 7', parameters: { retry_after: 7 } });
    const limited = await h.channel.send(address, [{ kind: 'text', text: plain('nudge') }]).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(PlatformError);
    expect(limited).toMatchObject({ status: 429, retryAfterSec: 7, unreachable: false, retryable: true });

    h.fake.block(ana.id);
    const blocked = await h.channel.send(address, [{ kind: 'text', text: plain('nudge') }]).catch((e: unknown) => e);
    expect(blocked).toMatchObject({ name: 'PlatformError', status: 403, unreachable: true, retryable: false });

    const gone = await h.channel.send({ ...address, conversationId: '424242' }, [{ kind: 'text', text: plain('nudge') }]).catch((e: unknown) => e);
    expect(gone).toMatchObject({ status: 400, unreachable: true });

    // A reply that fails is reported once, translated, with the update it belongs to; the tap's spinner still stops.
    const tap = h.fake.tap(ana, h.fake.sentTo(ana.id)[0]!, 'Begin module 1');
    await deliver(h, tap);
    expect(h.fake.callsOf('answerCallbackQuery').map((c) => c.payload.callback_query_id)).toContain(tap.callback_query!.id);
    expect(h.errors).toHaveLength(1);
    expect(h.errors[0]!.err).toMatchObject({ name: 'PlatformError', status: 403, unreachable: true });
    expect(h.errors[0]!.context).toMatchObject({ where: 'telegram-update', updateId: tap.update_id });
  });
});

describe('Telegram channel: webhook mode', () => {
  it('registers the webhook with its secret and refuses requests without it', async () => {
    const h = await harness('webhook');
    expect(h.fake.webhook).toEqual({ url: WEBHOOK_URL, secret_token: SECRET });
    const start = h.fake.message(ana, '/start');
    expect(await h.post(start, null)).toBe(401);
    expect(await h.post(start, 'wrong-secret')).toBe(401);
    expect(h.fake.callsOf('sendMessage')).toHaveLength(0);
    expect(await h.bot.store.isProcessed('telegram', `tg-${start.update_id}`)).toBe(false);

    expect(await h.post(start)).toBe(200);
    expect(h.fake.lastTo(ana.id).html).toContain('Welcome to DiGIT4SD Learning');
    // Telegram's retry of the same update sends nothing twice.
    expect(await h.post(start)).toBe(200);
    expect(h.fake.callsOf('sendMessage')).toHaveLength(1);
    expect(h.fake.callsOf('getUpdates')).toHaveLength(0);
    expect(h.errors).toEqual([]);
  });
});

describe('Telegram channel: team quiz in a group', () => {
  it('runs a quiz with three members, reveals answers, and keeps a leaderboard', async () => {
    const h = await harness('webhook');
    const { fake } = h;
    const course = fixtureCourse();
    const rightOption = (text: string): number => {
      const item = [...course.items.values()].find((i) => text.includes(i.question));
      if (!item) throw new Error(`no item in: ${text}`);
      return correctIndices(item)[0]!;
    };
    const labelOf = (text: string, option: number) => {
      const item = [...course.items.values()].find((i) => text.includes(i.question))!;
      return item.type === 'truefalse' ? (option === 0 ? 'True' : 'False') : String.fromCharCode(65 + option);
    };

    // Chatter that is neither a command, a button nor a reply to the bot is ignored.
    expect(await h.post(fake.message(ana, 'hello team', { chat: team }))).toBe(200);
    expect(await h.post(fake.message(ana, '/quiz@some_other_bot', { chat: team }))).toBe(200);
    expect(fake.sentTo(team.id)).toHaveLength(0);

    await h.post(fake.message(ana, '/quiz@digit4sd_test_bot 2', { chat: team }));
    await h.bot.settled();
    const [intro, question1] = fake.sentTo(team.id);
    expect(intro!.message.text).toContain('Team quiz: 2 questions, 30 seconds each.');
    const q1Text = question1!.message.text!;
    const right1 = rightOption(q1Text);
    const wrong1 = right1 === 0 ? 1 : 0;

    const answer = async (user: TgUser, msg: typeof question1, option: number) => {
      const tap = fake.tap(user, msg!, labelOf(msg!.message.text!, option));
      await h.post(tap);
      return fake.callsOf('answerCallbackQuery').find((c) => c.payload.callback_query_id === tap.callback_query!.id)?.payload.text;
    };
    expect(await answer(ana, question1, right1)).toMatch(/^Answer recorded/);
    expect(await answer(bob, question1, wrong1)).toMatch(/^Answer recorded/);
    expect(await answer(bob, question1, right1)).toBe('You already answered this question.');
    expect(await answer(chen, question1, right1)).toMatch(/^Answer recorded/);
    // Confirmations are toasts for the sender only, never group messages.
    expect(fake.sentTo(team.id)).toHaveLength(2);

    // The time limit passes: the app's timer closes the question and sends through the channel.
    const question1AsPosted = structuredClone(question1!);
    expect(question1!.message.reply_markup?.inline_keyboard.flat().length).toBeGreaterThan(0);
    h.clock.advance(31_000);
    await h.bot.tick();
    const [reveal1, question2] = fake.sentTo(team.id).slice(2);
    expect(reveal1!.message.text).toContain('2 of 3 got it right.');
    expect(reveal1!.message.text).toContain('Right: Ana Silva, Chen');
    expect(question2!.message.text).toContain('question 2 of 2');
    // The closed question's buttons are gone; the open one keeps its own.
    expect(question1!.message.reply_markup).toBeUndefined();
    expect(question2!.message.reply_markup?.inline_keyboard.flat().length).toBeGreaterThan(0);

    const right2 = rightOption(question2!.message.text!);
    // Someone who is not in the group (a public group seen from outside) is refused, and nothing is recorded.
    const dee: TgUser = { id: 4004, is_bot: false, first_name: 'Dee' };
    fake.leave(team.id, dee.id);
    expect(await answer(dee, question2, right2)).toBe('Join this group to answer its team quiz.');
    expect(JSON.stringify(await h.bot.store.listGroupAnswers({ channel: 'telegram', conversationId: String(team.id) }, (await h.bot.store.getGroup({ channel: 'telegram', conversationId: String(team.id) }))!.state.quiz!.id, 1))).not.toContain('4004');
    expect((await h.bot.store.exportLearner({ channel: 'telegram', userId: String(dee.id) })).groupAnswers).toEqual([]);

    // Question 2 closes as soon as everyone who joined has answered.

    await answer(ana, question2, right2);
    await answer(bob, question2, right2);
    expect(fake.sentTo(team.id)).toHaveLength(4);
    await answer(chen, question2, right2 === 0 ? 1 : 0);
    await h.bot.settled();
    const [reveal2, final] = fake.sentTo(team.id).slice(4);
    // Closed early by the last answer (a reply, not the timer): its buttons go too.
    expect(question2!.message.reply_markup).toBeUndefined();
    expect(reveal2!.message.text).toContain('Right: Ana Silva, Bob <&>');
    expect(reveal2!.html).toContain('Bob &lt;&amp;&gt;');
    expect(final!.message.text).toContain('Team quiz over!');

    // A late tap on the first question (from a client that still shows its buttons) gets a toast, not a group message.
    expect(await answer(chen, question1AsPosted, right1)).toBe('This question is closed.');

    await h.post(fake.message(bob, '/leaderboard', { chat: team }));
    const board = fake.lastTo(team.id).message.text!;
    expect(board).toContain('Leaderboard for this group');
    expect(board.indexOf('Ana Silva')).toBeLessThan(board.indexOf('Bob <&>'));
    expect(board.indexOf('Bob <&>')).toBeLessThan(board.indexOf('Chen'));

    // A reply to the bot's message is answered.
    const count = fake.sentTo(team.id).length;
    await h.post(fake.message(chen, 'what now?', { chat: team, replyTo: fake.lastTo(team.id).message }));
    expect(fake.sentTo(team.id)).toHaveLength(count + 1);
    expect(fake.lastTo(team.id).message.text).toContain('I run team quizzes');

    // Members are asked about once: one getChatMember call per member, whatever the number of answers.
    expect(fake.callsOf('getChatMember').map((c) => c.payload.user_id).sort()).toEqual([ana.id, bob.id, chen.id, dee.id].sort());
    expect(fake.problems).toEqual([]);
    expect(h.errors).toEqual([]);
  });
});

describe('Telegram channel: rate limits', () => {
  it('paces messages, never the acknowledgement of a tap (a spinner must stop even while sends wait)', async () => {
    // One message a minute overall: the second sendMessage waits; answering a tap must not.
    const h = await harness('polling', { global: { minTime: 60_000 }, group: { maxConcurrent: 1 }, out: { maxConcurrent: 1 } });
    const api = h.channel.tg.api;
    h.fake.message(ana, 'hello'); // the fake now knows Ana's chat
    await api.sendMessage(ana.id, 'first');
    const second = api.sendMessage(ana.id, 'second');
    let secondSent = false;
    void second.then(() => (secondSent = true), () => undefined);
    await api.answerCallbackQuery('tap-1', { text: 'Answer recorded' });
    expect(h.fake.callsOf('answerCallbackQuery').map((c) => c.payload.callback_query_id)).toEqual(['tap-1']);
    expect(secondSent).toBe(false);
    expect(h.fake.callsOf('sendMessage')).toHaveLength(1);
  });
});
