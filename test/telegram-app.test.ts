/**
 * The Telegram channel as `npm start` runs it: configuration from the environment, the app's
 * wiring, and the app's timer closing a group question through the channel.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { FakeTelegram, type TgChat, type TgUser } from './fakes/telegram-api.js';
import { FIXTURE_DIR, TestClock } from './helpers.js';

const ana: TgUser = { id: 2001, is_bot: false, first_name: 'Ana', language_code: 'fr' };
const group: TgChat = { id: -4242, type: 'group', title: 'Équipe' };

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe('Telegram channel in the app', () => {
  it('runs instead of the console when TELEGRAM_BOT_TOKEN is set, and the app timer closes group questions', async () => {
    const fake = new FakeTelegram();
    await fake.start();
    cleanup.push(() => fake.stop());
    const dataDir = mkdtempSync(join(tmpdir(), 'digit4sd-tg-app-'));
    cleanup.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const config = loadConfig({ TELEGRAM_BOT_TOKEN: fake.token, TELEGRAM_API_ROOT: fake.apiRoot, PORT: '0', DATA_DIR: dataDir, GROUP_QUESTION_SECONDS: '10' });
    expect(config.console).toBe(false);
    const clock = new TestClock(new Date('2026-03-02T09:00:00Z'));
    const app: RunningApp = await startApp({ config, logger: createLogger('silent'), lessonsDir: FIXTURE_DIR, now: clock.now, tickMs: 50 });
    cleanup.push(() => app.stop());
    expect([...app.channels.keys()]).toEqual(['telegram']);

    // A French-speaking learner gets the French interface.
    const start = fake.message(ana, '/start');
    fake.push(start);
    await fake.handled(start.update_id);
    // The update is acknowledged once it is in the durable inbox; the reply follows from the outbox.
    await fake.until(() => fake.sentTo(ana.id).length > 0, 10_000, 'the welcome');
    expect(fake.lastTo(ana.id).message.text).toContain('Bienvenue dans la formation DiGIT4SD');

    const quiz = fake.message(ana, '/quiz 1', { chat: group });
    fake.push(quiz);
    await fake.handled(quiz.update_id);
    // The quiz's introduction and question are posts the group is owed: they follow the update.
    await fake.until(() => fake.sentTo(group.id).length >= 2, 10_000, 'the quiz to be posted');
    expect(fake.sentTo(group.id)).toHaveLength(2);
    clock.advance(11_000);
    await fake.until(() => fake.sentTo(group.id).length >= 4, 10_000, 'the question to close');
    const texts = fake.sentTo(group.id).map((m) => m.message.text ?? '');
    expect(texts[2]).toMatch(/^Réponse/);
    expect(texts[3]).toContain('Fin du quiz d’équipe');
    expect(fake.problems).toEqual([]);
  });
});
