/**
 * A store write failing while the durable path handles an answer, through Slack (Events API and
 * block_actions over HTTP) and Teams (card submits): when applying fails the learner gets an apology,
 * nothing changes, and the inbox's retry applies the answer once; when the inbox write itself fails
 * the platform gets no 200, and its retry of the same event is applied once.
 */
import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createSlackChannel, type SlackAdapter } from '../adapters/slack/index.js';
import { createTeamsChannel, type TeamsAdapter } from '../adapters/teams/index.js';
import type { ChannelAdapter } from '../src/channel.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import { LearningBot } from '../src/runtime/bot.js';
import { InboxWorker } from '../src/runtime/inbox.js';
import { OutboxSender } from '../src/scheduling/outbox.js';
import { createHttpApp, listen } from '../src/server.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { FakeSlackApi, type SlackCall } from './fakes/slack-api.js';
import { cardOf, FakeConnector, textOf, type ConnectorCall } from './fakes/teams-connector.js';
import { fixtureCourse, TestClock } from './helpers.js';

const SECRET = 'failure-signing-secret';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A bot on an in-memory store with the durable path on, its channel made by `make`, served on a local port. */
async function durableBot(make: (bot: LearningBot, clock: TestClock, http: ReturnType<typeof createHttpApp>) => ChannelAdapter) {
  const clock = new TestClock(new Date('2026-03-02T09:00:00Z'));
  const store = new SqliteStore(':memory:');
  const errors: unknown[] = [];
  const onError = (err: unknown) => void errors.push(err);
  const bot = new LearningBot({ course: fixtureCourse(), store, engine: DEFAULT_ENGINE_OPTIONS, group: DEFAULT_GROUP_OPTIONS, now: clock.now, onError });
  const http = createHttpApp([]);
  const channel = make(bot, clock, http);
  const inbox = new InboxWorker({ bot, store, onError, retryMs: 1000 });
  const outbox = new OutboxSender({ store, channel: () => channel, onError, now: clock.now });
  bot.enableDurable(() => inbox.kick(), () => outbox.kick());
  await channel.start();
  const server: Server = await listen(http, 0, '127.0.0.1');
  cleanups.push(async () => {
    await channel.stop();
    await new Promise<void>((r) => server.close(() => r()));
    await inbox.stop();
    await outbox.stop();
    await store.close();
  });
  const settle = async () => {
    for (let i = 0; i < 3; i++) {
      await inbox.idle();
      await outbox.idle();
    }
  };
  /** Makes the next `n` calls of the store's `method` throw, as a full disk would. */
  const failNext = (method: 'commitLearner' | 'inboxAdd', n = 1) => {
    const real = (store[method] as (...a: unknown[]) => Promise<unknown>).bind(store);
    let left = n;
    (store as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
      if (left-- > 0) throw new Error('disk I/O error');
      return real(...args);
    };
  };
  return { clock, store, bot, errors, inbox, settle, failNext, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('a store write failing during an answer, Slack', () => {
  async function slack() {
    const fake = new FakeSlackApi();
    await fake.start();
    cleanups.push(() => fake.stop());
    fake.users.set('U1', { id: 'U1', name: 'ana', displayName: 'Ana', locale: 'en-US' });
    const b = await durableBot((port, clock, http) =>
      createSlackChannel(
        { botToken: fake.botToken, signingSecret: SECRET, command: '/digit4sd', apiUrl: fake.apiUrl, processBeforeResponse: true, retry: { attempts: 3, baseMs: 10, maxMs: 5000 } },
        { port, http, logger: pino({ level: 'silent' }), now: clock.now, sleep: async (ms) => clock.advance(ms) },
      ) as SlackAdapter,
    );
    const post = async (body: string, contentType: string): Promise<number> => {
      const ts = Math.floor(Date.now() / 1000);
      const res = await fetch(`${b.base}/slack/events`, {
        method: 'POST',
        headers: { 'content-type': contentType, 'x-slack-request-timestamp': String(ts), 'x-slack-signature': `v0=${createHmac('sha256', SECRET).update(`v0:${ts}:${body}`).digest('hex')}` },
        body,
      });
      await res.text();
      return res.status;
    };
    let seq = 0;
    const dm = (text: string, eventId = `EvF${++seq}`) =>
      JSON.stringify({
        team_id: 'T0001',
        api_app_id: 'A0001',
        type: 'event_callback',
        event_id: eventId,
        event_time: 1772442000 + seq,
        event: { type: 'message', channel: 'DU1', user: 'U1', text, ts: `1772442000.00000${seq}`, event_ts: `1772442000.00000${seq}`, channel_type: 'im', team: 'T0001' },
        authorizations: [{ team_id: 'T0001', user_id: 'UBOT', is_bot: true }],
      });
    type Shown = { ts: string; blocks: { type: string; elements?: { action_id: string; value: string; text: { text: string } }[] }[]; text: string };
    const shownOf = (c: SlackCall): Shown => ({ ts: String(c.method === 'chat.update' ? c.args.ts : c.result.ts), blocks: (c.args.blocks ?? []) as Shown['blocks'], text: String(c.args.text ?? '') });
    const dmCalls = () => fake.calls.filter((c) => ['chat.postMessage', 'chat.update', 'chat.postEphemeral'].includes(c.method) && c.args.channel === 'DU1');
    const last = () => shownOf(dmCalls().at(-1)!);
    /** The form body of a tap on a message's button (a new interaction each time). */
    const tapBody = (message: Shown, label: string): string => {
      const button = message.blocks.flatMap((x) => (x.type === 'actions' ? (x.elements ?? []) : [])).find((e) => e.text.text === label);
      if (!button) throw new Error(`no button ${label}`);
      seq += 1;
      const payload = {
        type: 'block_actions',
        user: { id: 'U1', username: 'ana', name: 'ana', team_id: 'T0001' },
        api_app_id: 'A0001',
        container: { type: 'message', message_ts: message.ts, channel_id: 'DU1', is_ephemeral: false },
        trigger_id: `trig-${seq}`,
        team: { id: 'T0001', domain: 'test' },
        channel: { id: 'DU1', name: 'directmessage' },
        message: { type: 'message', user: 'UBOT', ts: message.ts, bot_id: 'BBOT', text: message.text, blocks: message.blocks },
        response_url: fake.responseUrl(`act-${seq}`),
        actions: [{ action_id: button.action_id, block_id: 'b1', text: { type: 'plain_text', text: label }, value: button.value, type: 'button', action_ts: `1772443000.${seq}` }],
      };
      return `payload=${encodeURIComponent(JSON.stringify(payload))}`;
    };
    const postTap = (body: string) => post(body, 'application/x-www-form-urlencoded');
    const tap = (message: Shown, label: string) => postTap(tapBody(message, label));
    return { ...b, fake, post, dm, dmCalls, last, tap, tapBody, postTap };
  }

  /** Starts lesson l1 and taps through to its first quiz question; returns that message. */
  async function firstQuestion(s: Awaited<ReturnType<typeof slack>>) {
    expect(await s.post(s.dm('start l1'), 'application/json')).toBe(200);
    await s.settle();
    for (const label of ['Next', 'Next', 'Start the quiz']) {
      expect(await s.tap(s.last(), label)).toBe(200);
      await s.settle();
    }
    const question = s.last();
    expect(JSON.stringify(question.blocks)).toContain('Which option is right in l1 q1?');
    return question;
  }

  it('apologises when applying the answer fails, changes nothing, and the inbox retry applies it once', async () => {
    const s = await slack();
    const question = await firstQuestion(s);
    const before = (await s.store.getLearner({ channel: 'slack', userId: 'U1' }))!;

    s.failNext('commitLearner');
    const calls = s.dmCalls().length;
    expect(await s.tap(question, 'B')).toBe(200);
    await s.settle();
    const apology = s.dmCalls().slice(calls);
    expect(apology.map((c) => String(c.args.text))).toEqual([expect.stringMatching(/something went wrong/i)]);
    const after = (await s.store.getLearner({ channel: 'slack', userId: 'U1' }))!;
    expect(after.version).toBe(before.version);
    expect(after.state.reviews).toEqual({});

    // After the backoff the inbox applies the answer: its feedback replaces the question, once.
    s.clock.advance(1000);
    s.inbox.kick();
    await s.settle();
    expect((await s.store.getLearner({ channel: 'slack', userId: 'U1' }))!.state.reviews['l1-q1']).toMatchObject({ seen: 1, right: 1 });
    const feedback = s.dmCalls().slice(calls + 1);
    expect(feedback.filter((c) => c.method === 'chat.update' && c.args.ts === question.ts)).toHaveLength(1);
    expect(JSON.stringify(feedback.map((c) => c.args.blocks))).toMatch(/✅/);
    expect(s.errors).toHaveLength(1);
  });

  it('answers no 200 when the inbox write fails, and applies Slack\'s retry of the event once', async () => {
    const s = await slack();
    s.failNext('inboxAdd');
    const event = s.dm('hello', 'EvRetry1');
    const first = await s.post(event, 'application/json');
    expect(first).not.toBe(200);
    await s.settle();
    expect(s.dmCalls()).toEqual([]);
    expect(await s.store.getLearner({ channel: 'slack', userId: 'U1' })).toBeNull();
    // Slack resends an event it got no 200 for: this time it is accepted, applied and answered once.
    expect(await s.post(event, 'application/json')).toBe(200);
    await s.settle();
    expect(await s.post(event, 'application/json')).toBe(200);
    await s.settle();
    expect(s.dmCalls().map((c) => String(c.args.text))).toEqual([expect.stringContaining('Welcome')]);
    expect((await s.store.getLearner({ channel: 'slack', userId: 'U1' }))!.version).toBe(1);
    expect(s.errors).toHaveLength(1);
  });

  it.each([
    ['Slack delivers the same tap again', true],
    ['the learner taps again', false],
  ])('does not start the double-tap window for a tap whose inbox write failed: %s at once, and it is applied and answered once', async (_what, sameTap) => {
    const s = await slack();
    const question = await firstQuestion(s);
    const calls = s.dmCalls().length;

    s.failNext('inboxAdd');
    const first = s.tapBody(question, 'B');
    expect(await s.postTap(first)).not.toBe(200);
    await s.settle();
    expect(s.dmCalls()).toHaveLength(calls);
    // Again, well within the double-tap window (the clock has not moved): taken.
    expect(await s.postTap(sameTap ? first : s.tapBody(question, 'B'))).toBe(200);
    await s.settle();
    expect((await s.store.getLearner({ channel: 'slack', userId: 'U1' }))!.state.reviews['l1-q1']).toMatchObject({ seen: 1, right: 1 });
    const feedback = s.dmCalls().slice(calls);
    expect(feedback.filter((c) => c.method === 'chat.update' && c.args.ts === question.ts)).toHaveLength(1);
    expect(JSON.stringify(feedback.map((c) => c.args.blocks))).toMatch(/✅/);
    // A real double tap of the accepted tap is still ignored.
    expect(await s.tap(question, 'B')).toBe(200);
    await s.settle();
    expect(s.dmCalls().slice(calls)).toEqual(feedback);
    expect(s.errors).toHaveLength(1);
  });
});

describe('a store write failing during an answer, Teams', () => {
  async function teams() {
    const fake = new FakeConnector();
    await fake.start();
    cleanups.push(() => fake.stop());
    const b = await durableBot(
      (port, clock, http) =>
        createTeamsChannel({ appType: 'MultiTenant', allowedServiceUrls: [fake.url] }, { port, http, logger: pino({ level: 'silent' }), now: clock.now, sleep: async (ms) => clock.advance(ms) }) as TeamsAdapter,
    );
    let seq = 0;
    const PERSONAL = { id: 'a:personal-ana', conversationType: 'personal', tenantId: 'tenant-1' };
    const activity = (extra: Record<string, unknown>, id = `act-f${++seq}`) =>
      JSON.stringify({
        type: 'message',
        id,
        timestamp: new Date().toISOString(),
        serviceUrl: fake.url,
        channelId: 'msteams',
        locale: 'en-US',
        from: { id: '29:ana', name: 'Ana', aadObjectId: 'aad-ana' },
        recipient: { id: '28:bot-id', name: 'DiGIT4SD' },
        conversation: PERSONAL,
        channelData: { tenant: { id: 'tenant-1' } },
        ...extra,
      });
    const post = async (body: string): Promise<number> => {
      const res = await fetch(`${b.base}/api/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      await res.text();
      return res.status;
    };
    const button = (call: ConnectorCall, title: string): string => {
      const card = cardOf(call.body);
      const all = [...(card?.body ?? []).flatMap((e) => (e.type === 'ActionSet' ? (e.actions as { title: string; data: { d: string } }[]) : [])), ...(card?.actions ?? [])];
      const found = all.find((a) => a.title === title);
      if (!found) throw new Error(`no button ${title} in ${all.map((a) => a.title).join(', ')}`);
      return found.data.d;
    };
    const tap = (card: ConnectorCall, title: string) => post(activity({ value: { d: button(card, title) }, replyToId: card.id }));
    return { ...b, fake, post, activity, tap };
  }

  it('apologises when applying the answer fails, changes nothing, and the inbox retry applies it once', async () => {
    const t = await teams();
    expect(await t.post(t.activity({ text: 'start l1' }))).toBe(200);
    await t.settle();
    for (const label of ['Next', 'Next', 'Start the quiz']) {
      expect(await t.tap(t.fake.calls.at(-1)!, label)).toBe(200);
      await t.settle();
    }
    const question = t.fake.calls.at(-1)!;
    expect(textOf(question.body)).toContain('Which option is right in l1 q1?');
    const before = (await t.store.getLearner({ channel: 'teams', userId: '29:ana' }))!;

    t.failNext('commitLearner');
    const calls = t.fake.calls.length;
    expect(await t.tap(question, 'B')).toBe(200);
    await t.settle();
    expect(t.fake.since(calls).map((c) => textOf(c.body))).toEqual([expect.stringMatching(/something went wrong/i)]);
    const after = (await t.store.getLearner({ channel: 'teams', userId: '29:ana' }))!;
    expect(after.version).toBe(before.version);
    expect(after.state.reviews).toEqual({});

    t.clock.advance(1000);
    t.inbox.kick();
    await t.settle();
    expect((await t.store.getLearner({ channel: 'teams', userId: '29:ana' }))!.state.reviews['l1-q1']).toMatchObject({ seen: 1, right: 1 });
    const feedback = t.fake.since(calls + 1);
    // The pressed card is updated in place with the feedback, once.
    expect(feedback.filter((c) => c.kind === 'update' && c.activityId === question.id)).toHaveLength(1);
    expect(feedback.map((c) => textOf(c.body)).join('\n')).toMatch(/✅/);
    expect(t.errors).toHaveLength(1);
  });

  it('answers no 200 when the inbox write fails, and applies the Bot Framework\'s redelivery once', async () => {
    const t = await teams();
    t.failNext('inboxAdd');
    const start = t.activity({ text: 'start' }, 'act-redelivered');
    expect(await t.post(start)).not.toBe(200);
    await t.settle();
    expect(t.fake.calls).toEqual([]);
    expect(await t.post(start)).toBe(200);
    await t.settle();
    expect(await t.post(start)).toBe(200);
    await t.settle();
    expect(t.fake.calls).toHaveLength(1);
    expect(cardOf(t.fake.calls[0]!.body)?.fallbackText).toMatch(/DiGIT4SD/);
    expect((await t.store.getLearner({ channel: 'teams', userId: '29:ana' }))!.version).toBe(1);
    expect(t.errors).toHaveLength(1);
  });
});
