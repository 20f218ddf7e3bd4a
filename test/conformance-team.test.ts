/**
 * Channel conformance for groups and nudges: one scripted team quiz, run through Telegram, Slack
 * and Teams against their local fakes (each driven through its real adapter and SDK), and a
 * scheduled nudge through each channel. A small driver per channel maps the script's neutral steps
 * (a member's command in the group, a tap on a question's option) to what that platform's user
 * does, and reads back what the group sees. Every channel is compared with the same expected
 * outcome, so the steps do not depend on the order in which the tests run.
 */
import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createSlackChannel, type SlackAdapter } from '../adapters/slack/index.js';
import { createTeamsChannel, type TeamsAdapter } from '../adapters/teams/index.js';
import { createTelegramChannel, type TelegramAdapter } from '../adapters/telegram/index.js';
import type { ChannelAdapter, ChannelContext } from '../src/channel.js';
import { correctIndices } from '../src/content/course.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from '../src/engine/group.js';
import { createLogger } from '../src/logger.js';
import type { Channel } from '../src/messages.js';
import { LearningBot } from '../src/runtime/bot.js';
import { MemorySentMarks, NudgeService } from '../src/scheduling/delivery.js';
import { InProcessScheduler } from '../src/scheduling/in-process.js';
import { OutboxSender } from '../src/scheduling/outbox.js';
import { MemoryPacer } from '../src/scheduling/pacer.js';
import { createHttpApp, listen } from '../src/server.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { ConversationKey } from '../src/store/store.js';
import { FakeSlackApi, type SlackCall } from './fakes/slack-api.js';
import { cardOf, FakeConnector, type ConnectorCall } from './fakes/teams-connector.js';
import { FakeTelegram, type SentMessage, type TgChat, type TgUser } from './fakes/telegram-api.js';
import { TestClock, fixtureCourse } from './helpers.js';

const course = fixtureCourse();
const START = '2026-03-02T09:00:00Z'; // a Monday

type Member = 'ana' | 'ben' | 'chen';
const NAMES: Record<Member, string> = { ana: 'Ana', ben: 'Ben', chen: 'Chen' };

/** One message in the group as its members see it now (edits applied). */
interface GroupPost {
  id: string;
  text: string;
  /** The option buttons' labels ("A", "True"...); empty once the question is closed. */
  buttons: string[];
}

interface TeamDriver {
  readonly name: Channel;
  readonly bot: LearningBot;
  readonly clock: TestClock;
  readonly errors: { err: unknown; context: Record<string, unknown> }[];
  readonly channel: ChannelAdapter;
  readonly group: ConversationKey;
  userId(m: Member): string;
  start(): Promise<void>;
  /** A member sends a command in the group ("/quiz m1 2", "/digit4sd leaderboard", "@bot leaderboard"). */
  command(m: Member, name: string, args?: string): Promise<void>;
  /** A member taps a button of a group message, as it was shown to them (buttons may be gone since). */
  tap(m: Member, post: GroupPost, label: string): Promise<void>;
  /** The group's messages in order, as they look now; Teams' answer tallies left out. */
  posts(): GroupPost[];
  /** What a member was told privately (a toast, an ephemeral message); Teams has no private notices. */
  notices(m: Member): string[] | undefined;
  /** A member sends a direct message to the bot (a command typed as on that platform). */
  direct(m: Member, text: string): Promise<void>;
  /** Texts the bot sent to the member's direct conversation. */
  directTexts(m: Member): string[];
  stop(): Promise<void>;
}

function newBot(clock: TestClock, errors: TeamDriver['errors']): LearningBot {
  return new LearningBot({
    course,
    store: new SqliteStore(':memory:'),
    engine: DEFAULT_ENGINE_OPTIONS,
    group: { ...DEFAULT_GROUP_OPTIONS, questionSeconds: 30 },
    now: clock.now,
    onError: (err, context) => errors.push({ err, context }),
  });
}

/** The channel context every driver uses: the test's clock, and waits that pass on it. */
function contextFor(bot: LearningBot, clock: TestClock, http: ReturnType<typeof createHttpApp>): ChannelContext {
  return { port: bot, http, logger: createLogger('silent'), now: clock.now, sleep: async (ms) => clock.advance(ms) };
}

// ---- Telegram ---------------------------------------------------------------------------------

const TG: Record<Member, TgUser> = {
  ana: { id: 2001, is_bot: false, first_name: 'Ana', language_code: 'en' },
  ben: { id: 2002, is_bot: false, first_name: 'Ben', language_code: 'en' },
  chen: { id: 2003, is_bot: false, first_name: 'Chen', language_code: 'en' },
};
const TG_GROUP: TgChat = { id: -1009876543210, type: 'supergroup', title: 'Team' };
const TG_SECRET = 'team-conformance-secret';

class TelegramTeam implements TeamDriver {
  readonly name = 'telegram' as const;
  readonly clock = new TestClock(new Date(START));
  readonly errors: TeamDriver['errors'] = [];
  readonly bot = newBot(this.clock, this.errors);
  readonly fake = new FakeTelegram();
  readonly group = { channel: 'telegram' as const, conversationId: String(TG_GROUP.id) };
  channel!: TelegramAdapter;
  private server: Server | undefined;
  private readonly taps = new Map<string, Member>();

  userId(m: Member): string {
    return String(TG[m].id);
  }

  async start(): Promise<void> {
    await this.fake.start();
    const http = createHttpApp([]);
    this.channel = createTelegramChannel(
      { token: this.fake.token, apiRoot: this.fake.apiRoot, webhookUrl: 'https://bot.example.org/tg', webhookSecret: TG_SECRET },
      contextFor(this.bot, this.clock, http),
      { throttle: { global: {}, group: { maxConcurrent: 1 }, out: { maxConcurrent: 1 } } },
    );
    this.bot.connect((address, messages) => this.channel.send(address, messages));
    this.server = await listen(http, 0, '127.0.0.1');
    await this.channel.start();
  }

  private async post(update: unknown): Promise<void> {
    const { port } = this.server!.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/tg`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': TG_SECRET }, body: JSON.stringify(update) });
    await res.text();
    expect(res.status).toBe(200);
  }

  command(m: Member, name: string, args = ''): Promise<void> {
    return this.post(this.fake.message(TG[m], `/${name}${args ? ` ${args}` : ''}`, { chat: TG_GROUP }));
  }

  async tap(m: Member, post: GroupPost, label: string): Promise<void> {
    const sent = (JSON.parse(post.id) as { snapshot: SentMessage }).snapshot;
    const update = this.fake.tap(TG[m], sent, label);
    this.taps.set(update.callback_query!.id, m);
    await this.post(update);
  }

  posts(): GroupPost[] {
    return this.fake.sentTo(TG_GROUP.id).map((s) => ({
      // The message as it is now, kept whole so that a later tap can use its (old) buttons.
      id: JSON.stringify({ snapshot: s }),
      text: s.message.text ?? '',
      buttons: s.message.reply_markup?.inline_keyboard.flat().map((b) => b.text) ?? [],
    }));
  }

  notices(m: Member): string[] {
    return this.fake
      .callsOf('answerCallbackQuery')
      .filter((c) => this.taps.get(String(c.payload.callback_query_id)) === m)
      .map((c) => String(c.payload.text ?? ''));
  }

  direct(m: Member, text: string): Promise<void> {
    return this.post(this.fake.message(TG[m], `/${text}`));
  }

  directTexts(m: Member): string[] {
    return this.fake.sentTo(TG[m].id).map((s) => s.message.text ?? '');
  }

  async stop(): Promise<void> {
    await this.channel.stop();
    if (this.server) await new Promise<void>((r) => this.server!.close(() => r()));
    await this.fake.stop();
    await this.bot.store.close();
  }
}

// ---- Slack ------------------------------------------------------------------------------------

const SLACK_SECRET = 'team-conformance-signing-secret';
const SLACK_TOKEN = 'xoxb-test-token';
const SLACK_CHANNEL = 'C1';
const SLACK: Record<Member, string> = { ana: 'U1', ben: 'U2', chen: 'U3' };

interface SlackBlocks {
  blocks: { type: string; elements?: { action_id?: string; value?: string; text?: { text: string } | string }[] }[];
}

function slackButtons(p: SlackBlocks): { actionId: string; value: string; label: string }[] {
  return p.blocks
    .filter((b) => b.type === 'actions')
    .flatMap((b) => b.elements ?? [])
    .map((e) => ({ actionId: e.action_id!, value: e.value!, label: typeof e.text === 'string' ? e.text : e.text!.text }));
}

class SlackTeam implements TeamDriver {
  readonly name = 'slack' as const;
  readonly clock = new TestClock(new Date(START));
  readonly errors: TeamDriver['errors'] = [];
  readonly bot = newBot(this.clock, this.errors);
  readonly fake = new FakeSlackApi();
  readonly group = { channel: 'slack' as const, conversationId: SLACK_CHANNEL };
  channel!: SlackAdapter;
  private server: Server | undefined;
  private base = '';
  private seq = 0;

  userId(m: Member): string {
    return SLACK[m];
  }

  async start(): Promise<void> {
    await this.fake.start();
    for (const m of ['ana', 'ben', 'chen'] as const) this.fake.users.set(SLACK[m], { id: SLACK[m], name: m, displayName: NAMES[m], locale: 'en-US' });
    const http = createHttpApp([]);
    this.channel = createSlackChannel(
      { botToken: SLACK_TOKEN, signingSecret: SLACK_SECRET, command: '/digit4sd', apiUrl: this.fake.apiUrl, processBeforeResponse: true, doubleTapSec: 0 },
      { ...contextFor(this.bot, this.clock, http), logger: pino({ level: 'silent' }) },
    );
    this.bot.connect((address, messages) => this.channel.send(address, messages));
    this.server = await listen(http, 0, '127.0.0.1');
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    await this.channel.start();
  }

  private async signed(body: string, contentType: string): Promise<void> {
    const ts = Math.floor(Date.now() / 1000);
    const signature = `v0=${createHmac('sha256', SLACK_SECRET).update(`v0:${ts}:${body}`).digest('hex')}`;
    const res = await fetch(`${this.base}/slack/events`, { method: 'POST', headers: { 'content-type': contentType, 'x-slack-request-timestamp': String(ts), 'x-slack-signature': signature }, body });
    await res.text();
    expect(res.status).toBe(200);
  }

  async command(m: Member, name: string, args = ''): Promise<void> {
    const n = ++this.seq;
    const body = new URLSearchParams({
      token: 'legacy-verification-token',
      team_id: 'T0001',
      team_domain: 'test',
      channel_id: SLACK_CHANNEL,
      channel_name: 'team-learning',
      user_id: SLACK[m],
      user_name: m,
      command: '/digit4sd',
      text: `${name}${args ? ` ${args}` : ''}`,
      api_app_id: 'A0001',
      is_enterprise_install: 'false',
      response_url: this.fake.responseUrl(`cmd-${n}`),
      trigger_id: `team-trigger-${n}`,
    }).toString();
    await this.signed(body, 'application/x-www-form-urlencoded');
  }

  async tap(m: Member, post: GroupPost, label: string): Promise<void> {
    const shown = JSON.parse(post.id) as { ts: string; text: string } & SlackBlocks;
    const button = slackButtons(shown).find((b) => b.label === label);
    if (!button) throw new Error(`no button ${label}`);
    const n = ++this.seq;
    const payload = {
      type: 'block_actions',
      user: { id: SLACK[m], username: m, name: m, team_id: 'T0001' },
      api_app_id: 'A0001',
      token: 'legacy-verification-token',
      container: { type: 'message', message_ts: shown.ts, channel_id: SLACK_CHANNEL, is_ephemeral: false },
      trigger_id: `team-trig-${n}`,
      team: { id: 'T0001', domain: 'test' },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: SLACK_CHANNEL, name: 'team-learning' },
      message: { type: 'message', user: 'UBOT', ts: shown.ts, bot_id: 'BBOT', text: shown.text, blocks: shown.blocks },
      state: { values: {} },
      response_url: this.fake.responseUrl(`act-${n}`),
      actions: [{ action_id: button.actionId, block_id: 'b1', text: { type: 'plain_text', text: label, emoji: true }, value: button.value, type: 'button', action_ts: `${1772443000 + n}.${String(n).padStart(6, '0')}` }],
    };
    await this.signed(`payload=${encodeURIComponent(JSON.stringify(payload))}`, 'application/x-www-form-urlencoded');
  }

  posts(): GroupPost[] {
    const byTs = new Map<string, GroupPost>();
    for (const c of this.fake.calls as SlackCall[]) {
      if (c.args.channel !== SLACK_CHANNEL || (c.method !== 'chat.postMessage' && c.method !== 'chat.update')) continue;
      const ts = String(c.method === 'chat.update' ? c.args.ts : c.result.ts);
      const shown = { ts, text: String(c.args.text ?? ''), blocks: (c.args.blocks ?? []) as SlackBlocks['blocks'] };
      const text = `${shown.text}\n${JSON.stringify(shown.blocks)}`;
      byTs.set(ts, { id: JSON.stringify(shown), text, buttons: slackButtons(shown).map((b) => b.label) });
    }
    return [...byTs.values()];
  }

  notices(m: Member): string[] {
    return this.fake
      .of('chat.postEphemeral')
      .filter((c) => c.args.user === SLACK[m])
      .map((c) => String(c.args.text ?? ''));
  }

  async direct(m: Member, text: string): Promise<void> {
    const n = ++this.seq;
    const ts = `${1772442000 + n}.${String(n).padStart(6, '0')}`;
    const payload = {
      token: 'legacy-verification-token',
      team_id: 'T0001',
      api_app_id: 'A0001',
      event: { type: 'message', channel: `D${SLACK[m]}`, user: SLACK[m], text, ts, event_ts: ts, channel_type: 'im', team: 'T0001' },
      type: 'event_callback',
      event_id: `EvTeam${n}`,
      event_time: 1772442000 + n,
      authorizations: [{ enterprise_id: null, team_id: 'T0001', user_id: 'UBOT', is_bot: true, is_enterprise_install: false }],
    };
    await this.signed(JSON.stringify(payload), 'application/json');
  }

  directTexts(m: Member): string[] {
    return this.fake
      .of('chat.postMessage')
      .filter((c) => c.args.channel === `D${SLACK[m]}`)
      .map((c) => String(c.args.text ?? ''));
  }

  async stop(): Promise<void> {
    await this.channel.stop();
    if (this.server) await new Promise<void>((r) => this.server!.close(() => r()));
    await this.fake.stop();
    await this.bot.store.close();
  }
}

// ---- Teams ------------------------------------------------------------------------------------

const TEAMS_BOT = { id: '28:bot-id', name: 'DiGIT4SD' };
const TEAMS: Record<Member, { id: string; name: string }> = { ana: { id: '29:ana', name: 'Ana' }, ben: { id: '29:ben', name: 'Ben' }, chen: { id: '29:chen', name: 'Chen' } };
const TEAMS_CHANNEL = { id: '19:team@thread.tacv2;messageid=1800', conversationType: 'channel', tenantId: 'tenant-1', isGroup: true };
const personal = (m: Member) => ({ id: `a:personal-${m}`, conversationType: 'personal', tenantId: 'tenant-1' });
const mention = { type: 'mention', mentioned: TEAMS_BOT, text: '<at>DiGIT4SD</at>' };

function teamsText(call: ConnectorCall): string {
  const card = cardOf(call.body);
  return card ? JSON.stringify(card.body) + String(card.fallbackText ?? '') : String(call.body.text ?? '');
}

function teamsActions(call: ConnectorCall): { title: string; d: string }[] {
  const card = cardOf(call.body);
  const inBody = (card?.body ?? []).flatMap((e) => (e.type === 'ActionSet' ? (e.actions as { title: string; data: { d: string } }[]) : []));
  return [...inBody, ...(card?.actions ?? [])].map((a) => ({ title: a.title, d: a.data.d }));
}

class TeamsTeam implements TeamDriver {
  readonly name = 'teams' as const;
  readonly clock = new TestClock(new Date(START));
  readonly errors: TeamDriver['errors'] = [];
  readonly bot = newBot(this.clock, this.errors);
  readonly fake = new FakeConnector();
  readonly group = { channel: 'teams' as const, conversationId: '19:team@thread.tacv2' };
  channel!: TeamsAdapter;
  private server: Server | undefined;
  private botUrl = '';
  private seq = 0;

  userId(m: Member): string {
    return TEAMS[m].id;
  }

  async start(): Promise<void> {
    await this.fake.start();
    const http = createHttpApp([]);
    this.channel = createTeamsChannel({ appType: 'MultiTenant', allowedServiceUrls: [this.fake.url] }, contextFor(this.bot, this.clock, http));
    this.bot.connect((address, messages) => this.channel.send(address, messages), (c) => c === this.channel.channel && this.channel.groupTally === true);
    await this.channel.start();
    this.server = await listen(http, 0, '127.0.0.1');
    this.botUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/messages`;
  }

  private async post(m: Member, conversation: Record<string, unknown>, extra: Record<string, unknown>): Promise<void> {
    const activity = {
      type: 'message',
      id: `team-in-${++this.seq}`,
      timestamp: this.clock.now().toISOString(),
      serviceUrl: this.fake.url,
      channelId: 'msteams',
      locale: 'en-US',
      from: { ...TEAMS[m], aadObjectId: `aad-${m}` },
      recipient: TEAMS_BOT,
      conversation,
      channelData: { tenant: { id: 'tenant-1' } },
      ...extra,
    };
    const res = await fetch(this.botUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(activity) });
    await res.text();
    expect(res.status).toBe(200);
  }

  command(m: Member, name: string, args = ''): Promise<void> {
    return this.post(m, TEAMS_CHANNEL, { text: `<at>DiGIT4SD</at> ${name}${args ? ` ${args}` : ''}`, entities: [mention] });
  }

  tap(m: Member, post: GroupPost, label: string): Promise<void> {
    const { id, actions } = JSON.parse(post.id) as { id: string; actions: { title: string; d: string }[] };
    const action = actions.find((a) => a.title === label);
    if (!action) throw new Error(`no button ${label}`);
    return this.post(m, TEAMS_CHANNEL, { value: { d: action.d }, replyToId: id });
  }

  private channelPosts(): { id: string; call: ConnectorCall }[] {
    const byId = new Map<string, ConnectorCall>();
    for (const c of this.fake.calls) {
      if (c.conversationId !== TEAMS_CHANNEL.id) continue;
      byId.set(c.kind === 'update' ? c.activityId! : c.id, c);
    }
    return [...byId.entries()].map(([id, call]) => ({ id, call }));
  }

  posts(): GroupPost[] {
    return this.channelPosts()
      .filter(({ call }) => !String(call.body.text ?? '').startsWith('🗳️'))
      .map(({ id, call }) => ({ id: JSON.stringify({ id, actions: teamsActions(call) }), text: teamsText(call), buttons: teamsActions(call).map((a) => a.title) }));
  }

  /** Teams has no private notices: the tally in the channel says who has answered. */
  notices(): undefined {
    return undefined;
  }

  /** The answer tallies, one per question, as they read now. */
  tallies(): string[] {
    return this.channelPosts()
      .map(({ call }) => String(call.body.text ?? ''))
      .filter((t) => t.startsWith('🗳️'));
  }

  direct(m: Member, text: string): Promise<void> {
    return this.post(m, personal(m), { text });
  }

  directTexts(m: Member): string[] {
    return this.fake.calls.filter((c) => c.conversationId === personal(m).id).map(teamsText);
  }

  async stop(): Promise<void> {
    await this.channel.stop();
    if (this.server) await new Promise<void>((r) => this.server!.close(() => r()));
    await this.fake.stop();
    await this.bot.store.close();
  }
}

// ---- the script -------------------------------------------------------------------------------

const DRIVERS: { name: Channel; make: () => TeamDriver }[] = [
  { name: 'telegram', make: () => new TelegramTeam() },
  { name: 'slack', make: () => new SlackTeam() },
  { name: 'teams', make: () => new TeamsTeam() },
];

/** The quiz item a question message shows. */
function itemIn(post: GroupPost) {
  const item = [...course.items.values()].find((i) => post.text.includes(i.question.replace(/'/g, '')) || post.text.includes(i.question));
  if (!item) throw new Error(`no quiz item in: ${post.text.slice(0, 200)}`);
  return item;
}

/** The button label of an option, as the question shows it. */
function label(post: GroupPost, option: number): string {
  const item = itemIn(post);
  return item.type === 'truefalse' ? (item.options[option]!.text.toLowerCase() === 'true' ? 'True' : 'False') : String.fromCharCode(65 + option);
}

const rightOf = (post: GroupPost) => correctIndices(itemIn(post))[0]!;
const wrongOf = (post: GroupPost) => itemIn(post).options.findIndex((_, i) => !correctIndices(itemIn(post)).includes(i));

/** What a group post is, in neutral terms, the same on every channel. */
function describePost(p: GroupPost): string {
  const t = p.text;
  if (/Team quiz over/.test(t)) return 'final scores';
  if (/Leaderboard for this group/.test(t)) return 'leaderboard';
  const reveal = /(\d) of (\d) got it right/.exec(t);
  if (reveal) return `reveal: ${reveal[1]} of ${reveal[2]} right`;
  if (/Team quiz: \d questions/.test(t)) return 'introduction';
  const question = /question (\d) of (\d)/.exec(t);
  if (question) return `question ${question[1]} (${p.buttons.length ? 'open' : 'closed'})`;
  return `other: ${t.slice(0, 80)}`;
}

const find = (posts: GroupPost[], what: RegExp) => {
  const p = posts.find((x) => what.test(describePost(x)));
  if (!p) throw new Error(`no ${what} among ${posts.map(describePost).join(' | ')}`);
  return p;
};

describe.each(DRIVERS)('the scripted team quiz on $name', ({ make }) => {
  it('three members: one taps twice, one after the close, a leaderboard while a question is open, reveals, the next question, the final scores', async () => {
    const d = make();
    await d.start();
    try {
      await d.command('ana', 'quiz', 'm1 2');
      await d.bot.settled();
      expect(d.posts().map(describePost)).toEqual(['introduction', 'question 1 (open)']);
      const q1 = find(d.posts(), /question 1/);

      await d.tap('ana', q1, label(q1, rightOf(q1)));
      await d.tap('ben', q1, label(q1, wrongOf(q1)));
      // Ben taps a second time: refused, nothing changes.
      await d.tap('ben', q1, label(q1, rightOf(q1)));
      // A leaderboard asked for while the question is open: the question keeps its buttons.
      await d.command('chen', 'leaderboard');
      await d.bot.settled();
      expect(d.posts().map(describePost)).toEqual(['introduction', 'question 1 (open)', 'leaderboard']);

      // Time is up: the question's buttons go, the reveal and the next question follow.
      d.clock.advance(31_000);
      await d.bot.tick();
      expect(d.posts().map(describePost)).toEqual(['introduction', 'question 1 (closed)', 'leaderboard', 'reveal: 1 of 2 right', 'question 2 (open)']);
      expect(find(d.posts(), /reveal/).text).toMatch(/Right: Ana\b/);

      // Chen taps question 1 after its close (on the buttons as they were shown): refused, nothing posted.
      await d.tap('chen', q1, label(q1, rightOf(q1)));
      await d.bot.settled();
      expect(d.posts()).toHaveLength(5);

      // Question 2: both members who joined answer right, so it closes at once.
      const q2 = find(d.posts(), /question 2/);
      await d.tap('ana', q2, label(q2, rightOf(q2)));
      await d.tap('ben', q2, label(q2, rightOf(q2)));
      await d.bot.settled();
      const final = d.posts();
      expect(final.map(describePost)).toEqual([
        'introduction',
        'question 1 (closed)',
        'leaderboard',
        'reveal: 1 of 2 right',
        'question 2 (closed)',
        'reveal: 2 of 2 right',
        'final scores',
      ]);
      const scores = find(final, /final/).text;
      expect(scores.indexOf('Ana')).toBeGreaterThanOrEqual(0);
      expect(scores.indexOf('Ana')).toBeLessThan(scores.indexOf('Ben'));

      // What each member was told privately, where the platform can (Teams shows a tally instead).
      const notices = (m: Member) => d.notices(m)?.map((n) => (/recorded/.test(n) ? 'recorded' : /already/.test(n) ? 'already answered' : /closed/.test(n) ? 'closed' : n));
      if (d.name === 'teams') {
        // Question 1's tally names both (the clock's look after the close showed Ben's answer);
        // question 2 closed on its last answer before its tally's turn came: the reveal says it all.
        expect((d as TeamsTeam).tallies()).toEqual(['🗳️ Answered so far (2): Ana, Ben']);
      } else {
        expect(notices('ana')).toEqual(['recorded', 'recorded']);
        expect(notices('ben')).toEqual(['recorded', 'already answered', 'recorded']);
        expect(notices('chen')).toEqual(['closed']);
      }

      // The same record on every channel: who answered what, and the running leaderboard.
      const [quiz] = [(await d.bot.store.getGroup(d.group))!.state];
      expect(quiz.quiz).toBeNull();
      expect(quiz.owed).toBeUndefined();
      const board = await d.bot.store.leaderboard(d.group, 10);
      expect(board.map((r) => ({ name: r.displayName, points: r.points, correct: r.correct, answered: r.answered }))).toEqual([
        { name: 'Ana', points: 30, correct: 2, answered: 2 },
        { name: 'Ben', points: 15, correct: 1, answered: 2 },
      ]);
      expect(board.some((r) => r.userId === d.userId('chen'))).toBe(false);
      expect(d.errors.map((e) => ({ context: e.context, err: String(e.err) }))).toEqual([]);
    } finally {
      await d.stop();
    }
  });

  it('delivers a scheduled nudge through the channel, once', async () => {
    const d = make();
    await d.start();
    try {
      await d.direct('ana', 'remind 09:05');
      expect(d.directTexts('ana').join('\n')).toMatch(/Next reminder: today at 09:05/);
      const service = new NudgeService({ bot: d.bot, deliver: (x) => d.channel.send(x.address, x.messages), marks: new MemorySentMarks() });
      const scheduler = new InProcessScheduler({ bot: d.bot, service, onError: d.bot.report });
      expect(await scheduler.runOnce()).toEqual([]);
      d.clock.set('2026-03-02T09:05:20Z');
      expect(await scheduler.runOnce()).toEqual(['sent']);
      const texts = d.directTexts('ana');
      expect(texts.filter((t) => /Time for today.s lesson/.test(t))).toHaveLength(1);
      // Running again sends nothing more.
      expect(await scheduler.runOnce()).toEqual([]);
      expect(d.directTexts('ana')).toHaveLength(texts.length);
      expect((await d.bot.store.getLearner({ channel: d.name, userId: d.userId('ana') }))!.state.nudges.unanswered).toBe(1);
      expect(d.errors.map((e) => ({ context: e.context, err: String(e.err) }))).toEqual([]);
    } finally {
      await d.stop();
    }
  });

  it('delivers a scheduled nudge from the durable outbox through the channel\'s delivery, once', async () => {
    const d = make();
    await d.start();
    const outbox = new OutboxSender({ store: d.bot.store, channel: () => d.channel, onError: d.bot.report, now: d.bot.now, pacer: new MemoryPacer(), onRefused: (_row, payload, err) => d.bot.nudgeRefused(payload, err) });
    try {
      await d.direct('ana', 'remind 09:05');
      // From here the runtime queues nudges in the outbox, as the app does.
      d.bot.enableDurable(
        () => undefined,
        () => outbox.kick(),
      );
      const scheduler = new InProcessScheduler({ bot: d.bot, service: new NudgeService({ bot: d.bot }), onError: d.bot.report });
      d.clock.set('2026-03-02T09:05:20Z');
      expect(await scheduler.runOnce()).toEqual(['sent']);
      // The commit woke the sender: its pass sends the row.
      await outbox.idle();
      const texts = d.directTexts('ana');
      expect(texts.filter((t) => /Time for today.s lesson/.test(t))).toHaveLength(1);
      expect(await d.bot.store.outboxDue(d.clock.now(), 10)).toEqual([]);
      expect(await scheduler.runOnce()).toEqual([]);
      await outbox.idle();
      expect(d.directTexts('ana')).toHaveLength(texts.length);
      expect(d.errors.map((e) => ({ context: e.context, err: String(e.err) }))).toEqual([]);
    } finally {
      await outbox.stop();
      await d.stop();
    }
  });
});
