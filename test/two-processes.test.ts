/**
 * Two bot processes on one embedded store (two runtimes, two SQLite connections to one file, two
 * Telegram channels on one fake platform), as a ministry runs a web process and a worker: a team
 * quiz answered through both posts each question, reveal and set of final scores once, and takes
 * each question's buttons off once, whichever process took the answers or ran the clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTelegramChannel, type TelegramAdapter } from '../adapters/telegram/index.js';
import { correctIndices } from '../src/content/course.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import { createLogger } from '../src/logger.js';
import { LearningBot } from '../src/runtime/bot.js';
import type { AddressInfo } from 'node:net';
import { createHttpApp, listen } from '../src/server.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { FakeTelegram, type SentMessage, type TgChat, type TgUser } from './fakes/telegram-api.js';
import { fixtureCourse, TestClock } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'digit4sd-two-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GROUP: TgChat = { id: -1005550001, type: 'supergroup', title: 'Team' };
const members: TgUser[] = [1, 2, 3].map((i) => ({ id: 8000 + i, is_bot: false, first_name: `M${i}`, language_code: 'en' }));

describe('two bot processes on one embedded store', () => {
  it('post each team-quiz question, reveal and final score once, and close each question once', async () => {
    const fake = new FakeTelegram();
    await fake.start();
    const clock = new TestClock(new Date('2026-03-02T09:00:00Z'));
    const path = join(dir, 'shared.sqlite');
    const errors: unknown[] = [];
    const processes = await Promise.all(
      [0, 1].map(async () => {
        const store = new SqliteStore(path);
        const bot = new LearningBot({ course: fixtureCourse(), store, engine: DEFAULT_ENGINE_OPTIONS, group: { ...DEFAULT_GROUP_OPTIONS, questionSeconds: 30 }, now: clock.now, onError: (e) => void errors.push(e) });
        const http = createHttpApp([]);
        const channel: TelegramAdapter = createTelegramChannel(
          { token: fake.token, apiRoot: fake.apiRoot, webhookUrl: 'https://bot.example.org/tg', webhookSecret: 'two-secret' },
          { port: bot, http, logger: createLogger('silent'), now: clock.now, sleep: async () => undefined },
          { throttle: { global: {}, group: { maxConcurrent: 1 }, out: { maxConcurrent: 1 } } },
        );
        bot.connect((address, messages) => channel.send(address, messages));
        const server = await listen(http, 0, '127.0.0.1');
        return { store, bot, channel, server, port: (server.address() as AddressInfo).port };
      }),
    );
    try {
      for (const p of processes) await p.channel.start();
      const [a, b] = processes as [(typeof processes)[0], (typeof processes)[0]];
      const settle = () => Promise.all(processes.map((p) => p.bot.settled()));
      // Updates reach one process or the other, as behind a load balancer.
      let turn = 0;
      const send = async (update: ReturnType<FakeTelegram['message']>, to = processes[turn++ % 2]!) => {
        const res = await fetch(`http://127.0.0.1:${to.port}/tg`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': 'two-secret' }, body: JSON.stringify(update) });
        await res.text();
        expect(res.status).toBe(200);
        await settle();
      };
      const posts = () => fake.sentTo(GROUP.id);
      const itemOf = (m: SentMessage) => [...fixtureCourse().items.values()].find((i) => (m.message.text ?? '').includes(i.question))!;
      const label = (m: SentMessage, option: number) => (itemOf(m).type === 'truefalse' ? (option === 0 ? 'True' : 'False') : String.fromCharCode(65 + option));

      // Process A starts the quiz and posts its first question.
      await send(fake.message(members[0]!, '/quiz m1 2', { chat: GROUP }), a);
      expect(posts().map((m) => m.message.text?.split('\n')[0])).toHaveLength(2);
      const q1 = posts()[1]!;
      // Answers arrive through both processes.
      for (const [i, m] of members.entries()) await send(fake.tap(m, q1, label(q1, i === 2 ? 1 - correctIndices(itemOf(q1))[0]! : correctIndices(itemOf(q1))[0]!)));
      // Only process B runs the clock: it closes a question that A posted.
      clock.advance(31_000);
      await b.bot.tick();
      await Promise.all([a.bot.tick(), b.bot.tick()]);
      await settle();
      const afterClose = posts();
      expect(afterClose.filter((m) => /got it right/.test(m.message.text ?? ''))).toHaveLength(1);
      expect(afterClose.filter((m) => /question 2 of 2/.test(m.message.text ?? ''))).toHaveLength(1);
      // The first question's buttons are off, once, whichever process posted it.
      expect(q1.message.reply_markup).toBeUndefined();
      expect(fake.callsOf('editMessageReplyMarkup')).toHaveLength(1);

      const q2 = afterClose.find((m) => /question 2 of 2/.test(m.message.text ?? ''))!;
      for (const m of members) await send(fake.tap(m, q2, label(q2, correctIndices(itemOf(q2))[0]!)));
      await Promise.all([a.bot.tick(), b.bot.tick()]);
      await settle();
      expect(posts().filter((m) => /got it right/.test(m.message.text ?? ''))).toHaveLength(2);
      expect(posts().filter((m) => /Team quiz over/.test(m.message.text ?? ''))).toHaveLength(1);
      expect(q2.message.reply_markup).toBeUndefined();
      expect(fake.callsOf('editMessageReplyMarkup')).toHaveLength(2);
      expect(errors).toEqual([]);
    } finally {
      for (const p of processes) {
        await p.channel.stop();
        await new Promise<void>((r) => p.server.close(() => r()));
        await p.store.close();
      }
      await fake.stop();
    }
  });
});
