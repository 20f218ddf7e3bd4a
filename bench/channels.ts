/**
 * `npm run bench:channels`: the cost of one update on each channel, this bot beside a bare bot on
 * the same SDK, in one run.
 *
 * For each channel (CHANNELS, default telegram,slack,teams), it starts a local fake of the
 * platform's API, then the production build of the bot (`node dist/src/main.js`, embedded store)
 * and a bare bot on the same SDK that answers every message with a fixed text (`bench/bare/*`),
 * one after the other, and drives each through the same transport (Telegram webhook, Slack signed
 * HTTP events, Bot Framework activities) with UPDATES updates (`/start`, `/help`, `/progress`)
 * from CHATS conversations, CONCURRENCY at a time, after WARMUP updates that are not counted. An
 * update is done when its conversation receives its first reply (time to first reply); CPU is the
 * process tree's user + system time over the measured updates (from /proc), divided by their count.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSplitMs, fmt, freePort, peakRssMb, percentile, pool, record, ROOT, startNode, stopChild, waitHttp } from './lib.js';
import { PlatformFake, type Platform } from './platforms.js';

const UPDATES = Number(process.env.UPDATES ?? 600);
const CHATS = Number(process.env.CHATS ?? 150);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 32);
const WARMUP = Number(process.env.WARMUP ?? 60);
const CHANNELS = (process.env.CHANNELS ?? 'telegram,slack,teams').split(',').map((s) => s.trim()) as Platform[];

const TG_TOKEN = '123456789:AAbench-token_for_the_benchmark';
const TG_SECRET = 'bench-secret';
const SLACK_SECRET = 'bench-signing-secret';
const COMMANDS = ['start', 'help', 'progress'];

interface Run {
  cpuPerUpdateMs: number;
  /** The part of it spent in the kernel (network, fsync). */
  systemPerUpdateMs: number;
  p50: number;
  p99: number;
  seconds: number;
  peakRssMb: number;
  sends: number;
}

/** Builds the HTTP request that delivers update `i` (conversation `chat`) to a bot on `port`. */
function request(platform: Platform, port: number, fakeUrl: string, i: number, chat: number): { url: string; init: RequestInit; conversation: string } {
  const command = COMMANDS[i % COMMANDS.length]!;
  if (platform === 'telegram') {
    const text = `/${command}`;
    const user = { id: 10_000 + chat, is_bot: false, first_name: `Learner ${chat}`, language_code: 'en' };
    const update = {
      update_id: 100_000 + i,
      message: { message_id: 1 + i, from: user, chat: { id: user.id, type: 'private', first_name: user.first_name }, date: Math.floor(Date.now() / 1000), text, entities: [{ type: 'bot_command', offset: 0, length: text.length }] },
    };
    return {
      url: `http://127.0.0.1:${port}/telegram/webhook`,
      init: { method: 'POST', headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': TG_SECRET }, body: JSON.stringify(update) },
      conversation: String(user.id),
    };
  }
  if (platform === 'slack') {
    const user = `U${String(chat).padStart(6, '0')}`;
    const channel = `D${String(chat).padStart(6, '0')}`;
    const ts = `${Math.floor(Date.now() / 1000)}.${String(i).padStart(6, '0')}`;
    const body = JSON.stringify({
      token: 'legacy',
      team_id: 'T0001',
      api_app_id: 'A0001',
      type: 'event_callback',
      event_id: `Ev${String(i).padStart(8, '0')}`,
      event_time: Math.floor(Date.now() / 1000),
      event: { type: 'message', channel_type: 'im', channel, user, text: command, ts, event_ts: ts },
    });
    const stamp = String(Math.floor(Date.now() / 1000));
    const signature = `v0=${createHmac('sha256', SLACK_SECRET).update(`v0:${stamp}:${body}`).digest('hex')}`;
    return {
      url: `http://127.0.0.1:${port}/slack/events`,
      init: { method: 'POST', headers: { 'content-type': 'application/json', 'x-slack-request-timestamp': stamp, 'x-slack-signature': signature }, body },
      conversation: channel,
    };
  }
  const conversation = `a:bench-conversation-${chat}`;
  const activity = {
    type: 'message',
    id: `activity-${i}`,
    timestamp: new Date().toISOString(),
    serviceUrl: fakeUrl,
    channelId: 'msteams',
    from: { id: `29:user-${chat}`, name: `Learner ${chat}`, aadObjectId: `00000000-0000-0000-0000-${String(chat).padStart(12, '0')}` },
    conversation: { id: conversation, conversationType: 'personal', tenantId: 'bench-tenant' },
    recipient: { id: '28:bench-bot', name: 'Bench' },
    text: command,
    locale: 'en-US',
    channelData: { tenant: { id: 'bench-tenant' } },
  };
  return {
    url: `http://127.0.0.1:${port}/api/messages`,
    init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(activity) },
    conversation,
  };
}

function env(platform: Platform, port: number, fakeUrl: string, dataDir: string): Record<string, string> {
  const common = { PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'silent', CONSOLE: 'false', NODE_ENV: 'production' };
  if (platform === 'telegram') {
    return { ...common, TELEGRAM_BOT_TOKEN: TG_TOKEN, TELEGRAM_API_ROOT: fakeUrl, TELEGRAM_WEBHOOK_URL: 'https://bench.invalid/telegram/webhook', TELEGRAM_WEBHOOK_SECRET: TG_SECRET };
  }
  if (platform === 'slack') return { ...common, SLACK_BOT_TOKEN: 'xoxb-bench-token', SLACK_SIGNING_SECRET: SLACK_SECRET, SLACK_API_URL: `${fakeUrl}/api/` };
  return { ...common, TEAMS_ENABLED: 'true', TEAMS_ALLOWED_SERVICE_URLS: fakeUrl };
}

async function drive(platform: Platform, script: string): Promise<Run> {
  const fake = new PlatformFake(platform);
  await fake.start();
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'digit4sd-bench-'));
  const child = startNode(script, env(platform, port, fake.url, dataDir));
  try {
    await waitHttp(`http://127.0.0.1:${port}/healthz`, 30_000, child);
    const send = async (i: number, latencies?: number[]) => {
      const chat = i % CHATS;
      const req = request(platform, port, fake.url, i, chat);
      const first = fake.nextMessage(req.conversation);
      const sentAt = performance.now();
      const res = await fetch(req.url, req.init);
      await res.arrayBuffer();
      if (res.status >= 300) throw new Error(`${platform} update ${i}: HTTP ${res.status}\n${child.output()}`);
      const at = await Promise.race([first, new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`${platform}: no reply to update ${i} within 60 s\n${child.output()}`)), 60_000))]);
      latencies?.push(at - sentAt);
    };
    const warm = Array.from({ length: WARMUP }, (_, i) => i);
    await pool(warm, CONCURRENCY, (i) => send(i));
    await fake.quiet(300);
    const latencies: number[] = [];
    const ids = Array.from({ length: UPDATES }, (_, i) => WARMUP + i);
    const sendsBefore = fake.sends;
    const cpuBefore = cpuSplitMs(child.pid!);
    const start = performance.now();
    await pool(ids, CONCURRENCY, (i) => send(i, latencies));
    const seconds = (performance.now() - start) / 1000;
    await fake.quiet(500);
    const cpuAfter = cpuSplitMs(child.pid!);
    const system = cpuAfter.system - cpuBefore.system;
    const cpu = cpuAfter.user - cpuBefore.user + system;
    return {
      cpuPerUpdateMs: cpu / UPDATES,
      systemPerUpdateMs: system / UPDATES,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      seconds,
      peakRssMb: peakRssMb(child.pid!),
      sends: fake.sends - sendsBefore,
    };
  } finally {
    await stopChild(child);
    await fake.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const SDK: Record<Platform, string> = { telegram: 'grammY', slack: 'Bolt', teams: 'botbuilder' };
const rows: string[] = [];
for (const platform of CHANNELS) {
  const bot = await drive(platform, join(ROOT, 'dist/src/main.js'));
  const bare = await drive(platform, join(ROOT, `dist/bench/bare/${platform}.js`));
  const ratio = bot.cpuPerUpdateMs / bare.cpuPerUpdateMs;
  const line = (who: string, r: Run) =>
    `| ${platform} | ${who} | ${fmt(r.cpuPerUpdateMs)} (${fmt(r.systemPerUpdateMs)} in the kernel) | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${fmt(UPDATES / r.seconds, 1)} | ${r.sends} | ${fmt(r.peakRssMb, 0)} |`;
  rows.push(line('this bot', bot), line(`bare ${SDK[platform]}`, bare), `| ${platform} | **ratio** | **${fmt(ratio, 2)}×** (target ≤ 2, then 1.5) | | | | | |`);
  process.stdout.write(`${platform}: bot ${fmt(bot.cpuPerUpdateMs)} ms/update (kernel ${fmt(bot.systemPerUpdateMs)}), bare ${fmt(bare.cpuPerUpdateMs)} ms/update (kernel ${fmt(bare.systemPerUpdateMs)}), ratio ${fmt(ratio)}\n`);
}

record(
  'channels',
  'Cost per update, this bot beside a bare bot on the same SDK',
  `UPDATES=${UPDATES} CHATS=${CHATS} CONCURRENCY=${CONCURRENCY} npm run bench:channels`,
  [
    `${UPDATES} updates (/start, /help, /progress in turn) from ${CHATS} conversations, ${CONCURRENCY} at a time, after ${WARMUP} warm-up updates; production build, embedded store, local fakes of the platforms' APIs.`,
    'An update counts as done at its first reply; CPU is the process tree\'s user+system time over the measured updates.',
    '',
    '| channel | bot | CPU ms / update | first reply p50 ms | p99 ms | updates/s | messages sent | peak RSS MB |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n'),
);
