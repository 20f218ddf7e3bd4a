/**
 * Wires the bot together from a validated {@link Config}: course, store, engine runtime, HTTP server,
 * channels and schedulers. `main.ts` calls it; tests call it too, with their own streams and clock.
 */
import type { Server } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import type { Config } from './config.js';
import type { ChannelAdapter, ChannelContext } from './channel.js';
import { loadCourse } from './content/load.js';
import type { Course } from './content/course.js';
import { DEFAULT_ENGINE_OPTIONS } from './engine/engine.js';
import { DEFAULT_GROUP_OPTIONS } from './engine/group.js';
import { safeError, setLogHashKey, type Logger } from './logger.js';
import { loadLogHashKey } from './hash-key.js';
import { prepareDataDir } from './data-dir.js';
import { PlatformError, SettingError } from './errors.js';
import type { Channel, PostedRefs } from './messages.js';
import { LearningBot, type Delivery } from './runtime/bot.js';
import { createHttpApp, listen, type ReadinessCheck } from './server.js';
import { openStore } from './store/open.js';
import { CertificateService } from './certificates/service.js';
import { loadIssuerKey } from './certificates/issuer.js';
import { mountCertificateRoutes } from './certificates/http.js';
import { loadActorKey, XapiRecorder } from './xapi/recorder.js';
import { createAdminApp } from './web/admin.js';
import { WorkshopRuntime } from './runtime/workshops.js';
import { trainerAuth } from './web/workshop-auth.js';
import { mountWorkshopPages } from './web/workshops.js';
import { Metrics } from './metrics.js';
import { createConsoleChannel, type ConsoleAdapter } from '../adapters/console/index.js';
import { NudgeService } from './scheduling/delivery.js';
import { InProcessScheduler } from './scheduling/in-process.js';
import { MemoryPacer, RedisPacer, type Pacer } from './scheduling/pacer.js';
import { InboxWorker } from './runtime/inbox.js';
import { OutboxSender } from './scheduling/outbox.js';
import { RedisWake } from './scheduling/wake.js';

export interface AppOptions {
  config: Config;
  logger: Logger;
  lessonsDir: string;
  /** Terminal streams for the console channel. */
  stdin?: Readable;
  stdout?: Writable;
  ansi?: boolean;
  /** The console's width in columns, asked before each message (default: the COLUMNS setting, else 80). */
  consoleWidth?: () => number | undefined;
  now?: () => Date;
  /** How platform calls wait between retries (tests pass a fake clock's sleep). */
  sleep?: (ms: number) => Promise<void>;
  /** How often groups are ticked (due questions closed, owed posts sent), in ms (default 1000). */
  tickMs?: number;
  /** How long an outbox row claimed by a sender is held before another may take it over, in ms (default 5 s, renewed while sending). */
  outboxLeaseMs?: number;
  /** How long an inbox lane claimed by a worker is held without renewal before another process may take it over, in ms (default 10 s). */
  inboxLeaseMs?: number;
  /** How often the in-process scheduler looks for due nudges, in ms (default 30 s). */
  nudgeIntervalMs?: number;
  /** Options for the Telegram channel (tests lift its pacing to measure what is behind it). */
  telegramOptions?: import('../adapters/telegram/adapter.js').TelegramOptions;
  /** How often the xAPI outbox is sent, in ms (default 5 s). */
  xapiIntervalMs?: number;
}

export interface RunningApp {
  bot: LearningBot;
  course: Course;
  server?: Server;
  channels: Map<Channel, ChannelAdapter>;
  console?: ConsoleAdapter;
  /** Live workshops: trainer actions, participants' events, fan-out, boards. */
  workshops: WorkshopRuntime;
  /** Delivers proactive messages through the right channel. */
  deliver(d: Delivery): Promise<PostedRefs | void>;
  stop(): Promise<void>;
}

/** How long processed event ids are kept, to drop platform retries. */
const PROCESSED_EVENT_DAYS = 7;
/** With Redis waking the durable workers, how often they still read the store (backoffs, a wake-up lost while Redis was away). */
const WOKEN_POLL_MS = 5_000;

export async function startApp(opts: AppOptions): Promise<RunningApp> {
  const { config, logger } = opts;
  const course = loadCourse(opts.lessonsDir);
  // DATA_DIR holds the embedded store and the generated log-hash key: check it before either is written.
  if (!config.mongodbUri || !config.logHashKey) prepareDataDir(config.dataDir);
  setLogHashKey(loadLogHashKey(config.logHashKey, config.dataDir));
  const store = await openStore(config, logger);
  const metrics = new Metrics();
  const onError = (err: unknown, context: Record<string, unknown>) => {
    metrics.errors.inc({ where: String(context.where ?? 'unknown') });
    logger.error({ error: safeError(err), ...context }, 'error');
  };
  // The certificates' issuer: its key is read (or generated and kept in DATA_DIR) once, here.
  const certificates = new CertificateService(
    { name: config.certificates.issuerName, publicUrl: config.publicUrl },
    await loadIssuerKey({ dataDir: config.dataDir, ...(config.certificates.keyPem ? { pem: config.certificates.keyPem } : {}) }),
  );
  // Learning records for the programme's LRS, when XAPI_ENDPOINT is set.
  const xapi = config.xapi ? new XapiRecorder(course, { homePage: config.xapi.homePage, platform: 'DiGIT4SD Learning Bot' }, loadActorKey(config.xapi.actorKey, config.dataDir)) : undefined;
  const bot = new LearningBot({
    course,
    store,
    certificates,
    ...(xapi ? { xapi } : {}),
    engine: { ...DEFAULT_ENGINE_OPTIONS, retention: config.retention, certificateMinScore: config.certificates.minScore },
    group: { ...DEFAULT_GROUP_OPTIONS, questionSeconds: config.groupQuestionSeconds },
    onError,
    metrics,
    ...(opts.now ? { now: opts.now } : {}),
  });
  const channels = new Map<Channel, ChannelAdapter>();
  const deliver = async (d: Delivery): Promise<PostedRefs | void> => {
    const channel = channels.get(d.address.channel);
    if (!channel) throw new Error(`no ${d.address.channel} channel is running to deliver to`);
    const refs = await channel.send(d.address, d.messages);
    metrics.messagesOut.inc({ channel: d.address.channel }, d.messages.length);
    return refs;
  };

  const checks: ReadinessCheck[] = [{ name: 'store', check: () => store.ping() }];
  const http = createHttpApp(checks, metrics.registry, logger);
  mountCertificateRoutes(http, { store, settings: certificates.settings, jwks: certificates.issuer.jwks(), onError });
  bot.connect(
    (address, messages) => deliver({ address, messages }),
    (c) => channels.get(c)?.groupTally === true,
  );
  // Workshops: participants' joins and answers take their learner path; cards and questions go out through each channel's delivery.
  const workshops = new WorkshopRuntime({ course, store, send: async (address, messages) => void (await deliver({ address, messages })), now: bot.now, retention: config.retention, onError });
  bot.participantEvents = (inbound, path) => workshops.participant(inbound, path);
  // The durable inbox and outbox (SQLite, or MongoDB with MONGODB_URI): channels that accept events into the inbox
  // acknowledge them once they are on disk; a worker applies them, and replies leave from the outbox.
  let redisStatus: import('./redis-status.js').RedisStatus | undefined;
  let inbox: InboxWorker | undefined;
  // With REDIS_URL, every process's workers are woken through Redis when any process accepts an event
  // or writes owed messages; they then poll only as a slow safety net (backoffs, a lost wake-up).
  let wake: RedisWake | undefined;
  let pacerClient: { disconnect(): void } | undefined;
  const pollMs = config.redisUrl ? WOKEN_POLL_MS : undefined;
  // Nudges (rows written by whichever process runs the scheduler) leave at each platform's global
  // rate: paced in this process, or across every process through Redis once it is connected (set
  // below). While Redis is away (not ready, or a call that fails or times out), each process paces
  // its own share, so that the outbox never waits on Redis; the outage itself is reported once by
  // the Redis status line.
  const memoryPacer = new MemoryPacer();
  let sharedPacer: { pacer: Pacer; ready: () => boolean } | undefined;
  const pacer: Pacer = {
    wait: (c) => (sharedPacer?.ready() ? sharedPacer.pacer.wait(c).catch(() => memoryPacer.wait(c)) : memoryPacer.wait(c)),
    pause: (c, ms) => Promise.all([memoryPacer.pause(c, ms), sharedPacer?.ready() ? sharedPacer.pacer.pause(c, ms).catch(() => undefined) : undefined]).then(() => undefined),
  };
  // Every process sends the outbox (any process may deliver what any process wrote, nudges included);
  // only web processes, which receive events, apply the inbox.
  const outbox = new OutboxSender({
    store,
    channel: (c) => channels.get(c),
    onError,
    now: bot.now,
    pacer,
    // A nudge refused because its learner cannot be reached marks them so, on the learner's path.
    onRefused: (_row, payload, err) => bot.nudgeRefused(payload, err),
    ...(pollMs ? { pollMs } : {}),
    ...(opts.outboxLeaseMs ? { leaseMs: opts.outboxLeaseMs } : {}),
  });
  if (config.role !== 'worker') inbox = new InboxWorker({ bot, store, onError, ...(pollMs ? { pollMs } : {}), ...(opts.inboxLeaseMs ? { laneLeaseMs: opts.inboxLeaseMs } : {}) });
  bot.enableDurable(
    () => (inbox?.kick(), wake?.publish('inbox')),
    () => (outbox.kick(), wake?.publish('outbox')),
  );
  const ctx: ChannelContext = { port: bot, http, logger, now: bot.now, ...(opts.sleep ? { sleep: opts.sleep } : {}) };
  // The programme dashboard (read-only) on web processes, when a login is configured.
  if (config.role !== 'worker') {
    if (config.admin) {
      const login = config.admin.kind === 'token' ? { kind: 'token' as const, token: config.admin.token } : { kind: 'users' as const, users: config.admin.users };
      http.use('/admin', createAdminApp({ store, course, workshops: store.workshops, login, now: bot.now, onError, ...(config.trustProxy !== undefined ? { trustProxy: config.trustProxy } : {}) }));
    } else {
      http.use('/admin', (_req, res) => void res.status(404).type('text/plain').send('The dashboard is off: set ADMIN_TOKEN or ADMIN_USERS to turn it on (see the README).'));
    }
  }
  // Workshop pages (trainers: the dashboard's login; the board: its own read link) on web processes.
  const stopWorkshopPages =
    config.admin && config.role !== 'worker'
      ? mountWorkshopPages({
          http,
          runtime: workshops,
          course,
          auth: trainerAuth(config.admin.kind === 'token' ? { kind: 'token', token: config.admin.token } : { kind: 'users', users: config.admin.users }, bot.now),
          onError,
          ...(config.telegramUsername ? { telegramUsername: config.telegramUsername } : {}),
        })
      : undefined;
  // Channels: each one that is configured mounts its webhook on the shared HTTP app.
  // (channel factories are added here, one line each)
  if (config.slack) {
    const slack = (await import('../adapters/slack/index.js')).createSlackChannel({ ...config.slack, receive: config.role !== 'worker' }, ctx);
    channels.set('slack', slack);
    // The token is checked before any event can come in, in every role: one Slack refuses stops start-up here.
    try {
      await slack.verify();
    } catch (err) {
      stopWorkshopPages?.();
      await store.close();
      if (err instanceof PlatformError && err.unauthorized) {
        throw new SettingError(
          'SLACK_BOT_TOKEN',
          `Slack refuses the bot token (${err.description})`,
          "set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-...) from its OAuth & Permissions page, and reinstall the app to the workspace if that token was revoked",
          { cause: err },
        );
      }
      throw err;
    }
  }
  if (config.telegram) channels.set('telegram', (await import('../adapters/telegram/index.js')).createTelegramChannel(config.telegram, ctx, opts.telegramOptions));
  if (config.teams) channels.set('teams', (await import('../adapters/teams/index.js')).createTeamsChannel(config.teams, ctx));

  // Every role serves /healthz, /readyz and /metrics; only web processes serve the channels' webhooks.
  let server: Server | undefined;
  {
    const app = config.role === 'worker' ? createHttpApp(checks, metrics.registry, logger) : http;
    try {
      server = await listen(app, config.port);
      logger.info({ port: config.port }, 'HTTP server listening');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && config.console) {
        logger.warn({ port: config.port }, `PORT ${config.port} is in use, so /healthz is not served; the console chat runs anyway. Set PORT to a free port to serve it.`);
      } else throw err;
    }
  }

  let consoleAdapter: ConsoleAdapter | undefined;
  if (config.console && opts.stdin && opts.stdout) {
    consoleAdapter = createConsoleChannel({
      input: opts.stdin,
      output: opts.stdout,
      handle: (i) => bot.handle(i),
      ansi: opts.ansi ?? false,
      width: () => opts.consoleWidth?.() || config.columns || 80,
      dataDir: config.dataDir,
      ...(opts.now ? { now: opts.now } : {}),
    });
    channels.set('console', consoleAdapter);
  }

  // The groups' clock: close questions whose time is up, start scheduled weekly team quizzes, send
  // what groups are owed (any number of processes may do this safely). Errors are reported, never thrown.
  let ticking = false;
  const tick = async () => {
    if (ticking) return;
    ticking = true;
    try {
      await bot.tick();
      await workshops.tick();
    } catch (err) {
      onError(err, { where: 'group-tick' });
    } finally {
      ticking = false;
    }
  };
  const timer = config.role !== 'worker' ? setInterval(() => void tick(), opts.tickMs ?? 1000) : undefined;
  timer?.unref();
  // Forget processed event ids after a week (platform retries come within minutes; MongoDB also expires them by TTL).
  const prune = setInterval(() => {
    store.pruneProcessed(new Date(bot.now().getTime() - PROCESSED_EVENT_DAYS * 86_400_000)).catch((err) => onError(err, { where: 'prune-processed' }));
    store.pruneXapi(new Date(bot.now().getTime() - PROCESSED_EVENT_DAYS * 86_400_000)).catch((err) => onError(err, { where: 'prune-xapi' }));
  }, 3_600_000);
  prune.unref();

  // Events accepted before a crash are applied, and owed replies sent, before new ones come in.
  inbox?.start();
  outbox.start();
  // Channels receive only in web processes; workers use them to send nudges.
  if (config.role !== 'worker') for (const channel of channels.values()) await channel.start();

  // Nudges: BullMQ workers when Redis is configured, else the in-process scheduler. Either hands the
  // runtime the due nudge, which records it with its outbox row in one commit; the outbox sends it.
  const service = new NudgeService({ bot, metrics });
  let nudges: { stop(): Promise<void> } | undefined;
  if (config.redisUrl && config.role !== 'web') {
    // BullMQ and ioredis load only when Redis is configured (about 0.4 s of start-up otherwise).
    const [{ RedisStatus }, { BullNudgeScheduler, Redis }] = await Promise.all([import('./redis-status.js'), import('./scheduling/bullmq.js')]);
    // Redis may be away at start-up or go away later: the bot starts and runs anyway, /readyz says
    // 503, one log line names REDIS_URL, and the clients reconnect by themselves.
    const status = (redisStatus ??= new RedisStatus(config.redisUrl, logger));
    const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
    status.watch(redis);
    status.watchReady(redis);
    const bull = new BullNudgeScheduler({
      watch: (emitter) => status.watch(emitter),
      redisUrl: config.redisUrl,
      prefix: config.queuePrefix,
      bot,
      service,
      onError,
      channels: [...channels.keys()],
    });
    checks.push({
      name: 'redis',
      check: async () => {
        // While reconnecting, say so at once; while first connecting, the ping waits (within the check's timeout).
        if (['reconnecting', 'close', 'end'].includes(redis.status)) throw new Error(`not connected to REDIS_URL (${redis.status})`);
        await redis.ping();
      },
    });
    metrics.trackQueueDepth(async () => (redis.status === 'ready' ? bull.depth() : {}));
    // With Redis there, start-up waits for the scheduler; with Redis away, the scheduler waits for it
    // in the background and the rest of the bot runs meanwhile.
    const starting = bull.start().catch((err) => onError(err, { where: 'nudge-start' }));
    await Promise.race([starting, status.firstFailure]);
    nudges = { stop: async () => (await bull.close(5_000), redis.disconnect()) };
  } else if (!config.redisUrl) {
    const inProcess = new InProcessScheduler({ bot, service, onError, ...(opts.nudgeIntervalMs ? { intervalMs: opts.nudgeIntervalMs } : {}) });
    inProcess.start();
    nudges = inProcess;
  }

  // xAPI statements go from the outbox to the LRS in every process that does background work.
  let xapiSender: { start(): void; stop(): Promise<void> } | undefined;
  if (config.xapi && config.role !== 'web') {
    // The xAPI client (and axios) load only when an LRS is configured.
    const { XapiSender } = await import('./xapi/sender.js');
    xapiSender = new XapiSender({
      store,
      endpoint: config.xapi.endpoint,
      username: config.xapi.username,
      password: config.xapi.password,
      now: bot.now,
      onError,
      ...(opts.xapiIntervalMs ? { intervalMs: opts.xapiIntervalMs } : {}),
    });
    xapiSender.start();
  }

  // Set up last, so that the Redis status line (when Redis is away) comes from the nudge queues first.
  if (config.redisUrl) {
    const woken = { inbox, outbox };
    // Already loaded by the nudge queues in a process that runs them: no wait before start-up ends.
    const [{ RedisStatus }, { Redis }] = await Promise.all([import('./redis-status.js'), import('ioredis')]);
    const status = (redisStatus ??= new RedisStatus(config.redisUrl, logger));
    const client = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
    status.watch(client);
    status.watchReady(client);
    wake = new RedisWake(client, config.queuePrefix, (sub) => status.watch(sub));
    // Subscribed in the background: with Redis away, the workers poll until it is back.
    wake.start((topic) => (topic === 'inbox' ? woken.inbox?.kick() : woken.outbox.kick())).catch((err: unknown) => onError(err, { where: 'durable-wake' }));
    // Its own connection, whose calls fail fast instead of waiting for a Redis that went away.
    const pacing = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, commandTimeout: 2_000 });
    status.watch(pacing);
    pacerClient = pacing;
    sharedPacer = { pacer: new RedisPacer(pacing, config.queuePrefix), ready: () => pacing.status === 'ready' };
  }

  return {
    bot,
    course,
    ...(server ? { server } : {}),
    channels,
    ...(consoleAdapter ? { console: consoleAdapter } : {}),
    workshops,
    deliver,
    async stop() {
      if (timer) clearInterval(timer);
      stopWorkshopPages?.();
      await workshops.settled();
      clearInterval(prune);
      await xapiSender?.stop();
      await nudges?.stop();
      // Stop receiving first, then finish applying what was accepted and sending what is owed.
      for (const channel of channels.values()) await channel.stop();
      await inbox?.stop();
      await outbox.stop();
      await wake?.stop();
      pacerClient?.disconnect();
      await bot.settled();
      if (server) {
        const closed = new Promise<void>((resolve) => server!.close(() => resolve()));
        // Keep-alive connections would hold close() open: end the idle ones now.
        server.closeIdleConnections();
        await closed;
      }
      await store.close();
    },
  };
}
