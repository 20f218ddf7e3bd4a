/**
 * Configuration: read from the environment once, here and nowhere else, and validated with a
 * schema. A bad or missing setting stops start-up with a message that names the variable and says
 * how to fix it. Every setting is listed in the README.
 */
import { createPrivateKey } from 'node:crypto';
import { resolve } from 'node:path';
import { z } from 'zod';
import { isPasswordHash } from './web/auth.js';

/** Thrown for invalid settings; `problems` has one line per variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));
const httpUrl = z
  .string()
  .optional()
  .transform((v) => (v?.trim() ? v.trim() : undefined))
  .refine((v) => v === undefined || /^https?:\/\/[^\s]+$/.test(v), 'must be an http:// or https:// URL');

/** How to fix each setting, shown with its error. */
const FIX: Record<string, string> = {
  PORT: 'set PORT to a free TCP port, for example PORT=3000',
  ROLE: 'set ROLE to web, worker or all (the default), or pass --role',
  DATA_DIR: 'set DATA_DIR to a writable folder, for example DATA_DIR=./data',
  SQLITE_SYNCHRONOUS: 'set SQLITE_SYNCHRONOUS to normal (the default: nothing committed is lost when the process is killed) or full (nothing committed is lost on a power cut either, at the cost of a disk flush per write)',
  LESSONS_DIR: 'set LESSONS_DIR to the folder that holds modules.yml and the lesson files, or unset it for the shipped course',
  MONGODB_URI: 'set MONGODB_URI to a mongodb:// or mongodb+srv:// connection string, or unset it to use the embedded store',
  REDIS_URL: 'set REDIS_URL to a redis:// URL such as redis://127.0.0.1:6379, or unset it to schedule in-process',
  QUEUE_PREFIX: 'set QUEUE_PREFIX to a short name such as digit4sd (letters, digits, _ and -); deployments sharing one Redis need different prefixes',
  LOG_LEVEL: 'set LOG_LEVEL to one of fatal, error, warn, info, debug, trace, silent',
  DESIRED_RETENTION: 'set DESIRED_RETENTION to a number between 0.7 and 0.99, for example 0.9',
  GROUP_QUESTION_SECONDS: 'set GROUP_QUESTION_SECONDS to a whole number of seconds between 10 and 600',
  CONSOLE: 'set CONSOLE to true or false',
  COLUMNS: 'set COLUMNS to the terminal width in columns (a whole number from 20 to 1000), or unset it for 80',
  TELEGRAM_BOT_TOKEN: 'set TELEGRAM_BOT_TOKEN to the token @BotFather gave you (digits, a colon, then letters)',
  TELEGRAM_WEBHOOK_URL: 'set TELEGRAM_WEBHOOK_URL to the public https:// URL Telegram should call, or unset it to use long polling',
  TELEGRAM_WEBHOOK_SECRET: 'set TELEGRAM_WEBHOOK_SECRET to 1-256 characters of A-Z, a-z, 0-9, _ and - (required with TELEGRAM_WEBHOOK_URL)',
  TELEGRAM_API_ROOT: 'set TELEGRAM_API_ROOT to a Bot API server URL, or unset it for https://api.telegram.org',
  SLACK_BOT_TOKEN: 'set SLACK_BOT_TOKEN to the app\'s Bot User OAuth Token (xoxb-...)',
  SLACK_SIGNING_SECRET: 'set SLACK_SIGNING_SECRET to the Signing Secret from the app\'s Basic Information page (Slack over HTTP), or set SLACK_APP_TOKEN for Socket Mode, which does not use it',
  SLACK_APP_TOKEN: 'set SLACK_APP_TOKEN to an app-level token (xapp-...) for Socket Mode, or unset it for HTTP',
  SLACK_API_URL: 'set SLACK_API_URL to the Web API base ending in /api/, or unset it for https://slack.com/api/',
  SLACK_COMMAND: 'set SLACK_COMMAND to the slash command\'s name, for example /digit4sd',
  TEAMS_ENABLED: 'set TEAMS_ENABLED to true or false',
  TEAMS_ALLOWED_SERVICE_URLS: 'set TEAMS_ALLOWED_SERVICE_URLS to a comma-separated list of http(s) URLs (for example http://127.0.0.1:3978 for the Bot Framework Emulator), or unset it',
  LOG_HASH_KEY: 'set LOG_HASH_KEY to a random secret of at least 16 characters (for example the output of: openssl rand -base64 32), or unset it to have one generated in DATA_DIR',
  MICROSOFT_APP_TYPE: 'set MICROSOFT_APP_TYPE to MultiTenant, SingleTenant or UserAssignedMSI',
  PUBLIC_URL: 'set PUBLIC_URL to the address people reach the bot\'s web pages at, such as https://learn.example.org (no trailing path), or unset it for http://localhost:PORT',
  CERTIFICATE_MIN_SCORE: 'set CERTIFICATE_MIN_SCORE to the first-try score a certificate needs, a number from 0 to 1 such as 0.7',
  CERTIFICATE_ISSUER_NAME: 'set CERTIFICATE_ISSUER_NAME to the name printed and signed as the certificates\' issuer (2 to 120 characters)',
  XAPI_ENDPOINT: 'set XAPI_ENDPOINT to your Learning Record Store\'s xAPI endpoint, such as https://lrs.example.org/xapi/, or unset it to send no learning records',
  XAPI_USERNAME: 'set XAPI_USERNAME and XAPI_PASSWORD to the key and secret of the LRS\'s basic-auth credentials',
  XAPI_PASSWORD: 'set XAPI_USERNAME and XAPI_PASSWORD to the key and secret of the LRS\'s basic-auth credentials',
  XAPI_HOMEPAGE: 'set XAPI_HOMEPAGE to the programme\'s home page URL (the actor accounts\' homePage), or unset it for PUBLIC_URL',
  XAPI_ACTOR_KEY: 'set XAPI_ACTOR_KEY to a random secret of at least 16 characters (openssl rand -base64 32), the same in every process, or unset it to have one generated in DATA_DIR',
  CERTIFICATE_KEY: 'set CERTIFICATE_KEY to an Ed25519 private key in PEM (PKCS #8), for example from `openssl genpkey -algorithm ed25519`, or unset it to have one generated and kept in DATA_DIR',
  ADMIN_TOKEN: 'set ADMIN_TOKEN to a long random string (at least 16 characters, for example the output of openssl rand -hex 24), or unset it',
  ADMIN_USERS: 'set ADMIN_USERS to name:hash pairs separated by commas, each hash made by npm run admin:hash, or unset it',
  TELEGRAM_BOT_USERNAME: 'set TELEGRAM_BOT_USERNAME to the bot\'s username without the @ (5-32 letters, digits and _, ending in bot), or unset it',
  TRUST_PROXY: 'set TRUST_PROXY to the number of proxies in front of the bot (for example 1), or to their addresses (loopback, 10.0.0.0/8, ...), or unset it',
};

/** `name:scrypt$...` pairs, separated by commas. */
const adminUsers = optionalString.transform((v, ctx) => {
  if (v === undefined) return undefined;
  const users: { name: string; hash: string }[] = [];
  for (const pair of v.split(',').map((p) => p.trim()).filter(Boolean)) {
    const i = pair.indexOf(':');
    const name = i > 0 ? pair.slice(0, i).trim() : '';
    const hash = i > 0 ? pair.slice(i + 1).trim() : '';
    if (!/^[\w.@-]{1,64}$/.test(name) || !isPasswordHash(hash)) {
      ctx.addIssue({ code: 'custom', message: `"${name || pair.slice(0, 20)}" is not a name:hash pair made by npm run admin:hash` });
      return z.NEVER;
    }
    users.push({ name, hash });
  }
  if (!users.length) {
    ctx.addIssue({ code: 'custom', message: 'lists no user' });
    return z.NEVER;
  }
  return users;
});

const schema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    ROLE: z.enum(['web', 'worker', 'all']).default('all'),
    DATA_DIR: z.string().min(1).default('./data'),
    SQLITE_SYNCHRONOUS: z.enum(['normal', 'full']).default('normal'),
    LESSONS_DIR: z.string().min(1).optional(),
    MONGODB_URI: optionalString.refine((v) => v === undefined || /^mongodb(\+srv)?:\/\//.test(v), 'must start with mongodb:// or mongodb+srv://'),
    REDIS_URL: optionalString.refine((v) => v === undefined || /^rediss?:\/\//.test(v), 'must start with redis:// or rediss://'),
    QUEUE_PREFIX: z.string().regex(/^[\w-]+$/, 'may contain only letters, digits, _ and -').default('digit4sd'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    DESIRED_RETENTION: z.coerce.number().min(0.7).max(0.99).default(0.9),
    GROUP_QUESTION_SECONDS: z.coerce.number().int().min(10).max(600).default(30),
    CONSOLE: bool.optional(),
    COLUMNS: z.coerce.number().int().min(20).max(1000).optional(),
    TELEGRAM_BOT_TOKEN: optionalString.refine((v) => v === undefined || /^\d+:[\w-]+$/.test(v), 'does not look like a bot token'),
    TELEGRAM_WEBHOOK_URL: httpUrl,
    TELEGRAM_WEBHOOK_SECRET: optionalString.refine((v) => v === undefined || /^[\w-]{1,256}$/.test(v), 'may contain only A-Z, a-z, 0-9, _ and -'),
    TELEGRAM_API_ROOT: httpUrl,
    SLACK_BOT_TOKEN: optionalString,
    SLACK_SIGNING_SECRET: optionalString,
    SLACK_APP_TOKEN: optionalString,
    SLACK_API_URL: httpUrl,
    SLACK_COMMAND: z.string().regex(/^\/[\w-]+$/, 'must look like /digit4sd').default('/digit4sd'),
    TEAMS_ENABLED: bool.optional(),
    TEAMS_ALLOWED_SERVICE_URLS: optionalString
      .transform((v) => (v === undefined ? [] : v.split(',').map((u) => u.trim()).filter(Boolean)))
      .refine((urls) => urls.every((u) => /^https?:\/\/[^\s/]+/.test(u)), 'must be http:// or https:// URLs separated by commas'),
    LOG_HASH_KEY: optionalString.refine((v) => v === undefined || v.length >= 16, 'must be at least 16 characters long'),
    MICROSOFT_APP_ID: optionalString,
    MICROSOFT_APP_PASSWORD: optionalString,
    MICROSOFT_APP_TYPE: z.enum(['MultiTenant', 'SingleTenant', 'UserAssignedMSI']).default('MultiTenant'),
    MICROSOFT_APP_TENANT_ID: optionalString,
    PUBLIC_URL: httpUrl.refine((v) => v === undefined || URL.canParse(v), 'must be a URL such as https://learn.example.org'),
    CERTIFICATE_MIN_SCORE: z.coerce.number().min(0).max(1).default(0.7),
    CERTIFICATE_ISSUER_NAME: z.string().trim().min(2).max(120).default('DiGIT4SD Learning Programme'),
    XAPI_ENDPOINT: httpUrl,
    XAPI_USERNAME: optionalString,
    XAPI_PASSWORD: optionalString,
    XAPI_HOMEPAGE: httpUrl,
    XAPI_ACTOR_KEY: optionalString.refine((v) => v === undefined || v.length >= 16, 'must be at least 16 characters long'),
    CERTIFICATE_KEY: optionalString.refine((v) => v === undefined || isEd25519Pem(v), 'is not an Ed25519 private key in PEM (PKCS #8)'),
    ADMIN_TOKEN: optionalString.refine((v) => v === undefined || v.length >= 16, 'must be at least 16 characters'),
    ADMIN_USERS: adminUsers,
    TELEGRAM_BOT_USERNAME: optionalString.refine((v) => v === undefined || /^@?[A-Za-z][\w]{3,31}$/.test(v), 'does not look like a Telegram bot username'),
    TRUST_PROXY: optionalString.refine((v) => v === undefined || /^(\d{1,2}|true|false|[\w.:/, -]+)$/.test(v), 'must be a number of proxies or a list of addresses'),
  })
  .superRefine((env, ctx) => {
    const need = (cond: boolean, path: string, message: string) => cond && ctx.addIssue({ code: 'custom', path: [path], message });
    need(!!env.XAPI_ENDPOINT && !env.XAPI_USERNAME, 'XAPI_USERNAME', 'is required when XAPI_ENDPOINT is set');
    need(!!env.XAPI_ENDPOINT && !env.XAPI_PASSWORD, 'XAPI_PASSWORD', 'is required when XAPI_ENDPOINT is set');
    need(!!env.TELEGRAM_WEBHOOK_URL && !env.TELEGRAM_BOT_TOKEN, 'TELEGRAM_BOT_TOKEN', 'is required when TELEGRAM_WEBHOOK_URL is set');
    need(!!env.TELEGRAM_WEBHOOK_URL && !env.TELEGRAM_WEBHOOK_SECRET, 'TELEGRAM_WEBHOOK_SECRET', 'is required when TELEGRAM_WEBHOOK_URL is set');
    // Over HTTP Slack's requests are verified with the signing secret; Socket Mode has no requests to verify.
    need(!!env.SLACK_BOT_TOKEN && !env.SLACK_SIGNING_SECRET && !env.SLACK_APP_TOKEN, 'SLACK_SIGNING_SECRET', 'is required for Slack over HTTP (the Events API), or set SLACK_APP_TOKEN for Socket Mode');
    need(!env.SLACK_BOT_TOKEN && !!(env.SLACK_SIGNING_SECRET || env.SLACK_APP_TOKEN), 'SLACK_BOT_TOKEN', 'is required when SLACK_SIGNING_SECRET or SLACK_APP_TOKEN is set');
    need(!!env.MICROSOFT_APP_ID && !env.MICROSOFT_APP_PASSWORD && env.MICROSOFT_APP_TYPE !== 'UserAssignedMSI', 'MICROSOFT_APP_PASSWORD', 'is required when MICROSOFT_APP_ID is set');
    need(env.MICROSOFT_APP_TYPE === 'SingleTenant' && !env.MICROSOFT_APP_TENANT_ID, 'MICROSOFT_APP_TENANT_ID', 'is required when MICROSOFT_APP_TYPE is SingleTenant');
  });

type Env = z.infer<typeof schema>;

/** Whether a PEM text holds an Ed25519 private key (the certificates' signing key). */
function isEd25519Pem(pem: string): boolean {
  try {
    return createPrivateKey(pem.replace(/\\n/g, '\n')).asymmetricKeyType === 'ed25519';
  } catch {
    return false;
  }
}

export interface Config {
  port: number;
  role: 'web' | 'worker' | 'all';
  dataDir: string;
  sqlitePath: string;
  /** SQLite's `synchronous` in WAL mode: `normal` survives a killed process, `full` a power cut too (see the README). */
  sqliteSynchronous: 'normal' | 'full';
  /** The course folder; undefined means the shipped `lessons/`. */
  lessonsDir?: string;
  mongodbUri?: string;
  redisUrl?: string;
  /** Prefix of the BullMQ keys in Redis. */
  queuePrefix: string;
  logLevel: Env['LOG_LEVEL'];
  /** The secret that keys log hashes; undefined: one generated and kept in DATA_DIR. */
  logHashKey?: string;
  retention: number;
  groupQuestionSeconds: number;
  /** Whether to run the terminal chat. */
  console: boolean;
  /** The console chat's width when the output is not a terminal that knows its own (COLUMNS). */
  columns?: number;
  telegram?: { token: string; webhookUrl?: string; webhookSecret?: string; apiRoot?: string };
  /** Slack: over HTTP with `signingSecret`, or in Socket Mode with `appToken` (the signing secret is then unused). */
  slack?: { botToken: string; signingSecret?: string; appToken?: string; apiUrl?: string; command: string };
  teams?: {
    appId?: string;
    appPassword?: string;
    appType: Env['MICROSOFT_APP_TYPE'];
    tenantId?: string;
    /** Service URLs replies may go to besides Bot Framework's own (the Emulator, a local fake). */
    allowedServiceUrls?: string[];
  };
  /** Where people reach the bot's web pages (verification links), without a trailing slash. */
  publicUrl: string;
  /** Learning records for the programme's LRS; undefined when XAPI_ENDPOINT is unset. */
  xapi?: { endpoint: string; username: string; password: string; homePage: string; actorKey?: string };
  certificates: {
    /** First-try score (0 to 1) a module or the course needs for its certificate. */
    minScore: number;
    issuerName: string;
    /** The issuer's Ed25519 private key (PEM); undefined: generated and kept in DATA_DIR. */
    keyPem?: string;
  };
  /** The dashboard's login at /admin; undefined when neither ADMIN_TOKEN nor ADMIN_USERS is set (the dashboard is off). */
  admin?: { token: string; kind: 'token' } | { users: { name: string; hash: string }[]; kind: 'users' };
  /** Express's "trust proxy": how many proxies (or which addresses) to trust for the client address and HTTPS. */
  trustProxy?: number | boolean | string;
  /** The Telegram bot's username (TELEGRAM_BOT_USERNAME), for workshop join links. */
  telegramUsername?: string;
}

/**
 * Reads the configuration from `env` (normally `process.env`) and command-line `argv`
 * (`--role worker`, `--console`). Throws {@link ConfigError} with every problem at once.
 */
export function loadConfig(env: Record<string, string | undefined>, argv: string[] = []): Config {
  const roleArg = argv.indexOf('--role');
  const input = { ...env };
  if (roleArg >= 0) input.ROLE = argv[roleArg + 1];
  if (argv.includes('--console')) input.CONSOLE = 'true';
  // Empty strings count as unset for settings with defaults.
  for (const k of Object.keys(input)) if (input[k] === '') delete input[k];
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'configuration');
      const got = input[name];
      const shown = got === undefined ? 'it is not set' : name.includes('TOKEN') || name.includes('SECRET') || name.includes('PASSWORD') || name.includes('KEY') || name === 'ADMIN_USERS' ? 'got a value that is not valid' : `got "${got}"`;
      return `${name}: ${issue.message} (${shown}). Fix: ${FIX[name] ?? `check ${name}`}.`;
    });
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const dataDir = resolve(e.DATA_DIR);
  const telegram = e.TELEGRAM_BOT_TOKEN
    ? {
        token: e.TELEGRAM_BOT_TOKEN,
        ...(e.TELEGRAM_WEBHOOK_URL ? { webhookUrl: e.TELEGRAM_WEBHOOK_URL } : {}),
        ...(e.TELEGRAM_WEBHOOK_SECRET ? { webhookSecret: e.TELEGRAM_WEBHOOK_SECRET } : {}),
        ...(e.TELEGRAM_API_ROOT ? { apiRoot: e.TELEGRAM_API_ROOT } : {}),
      }
    : undefined;
  const slack =
    e.SLACK_BOT_TOKEN && (e.SLACK_SIGNING_SECRET || e.SLACK_APP_TOKEN)
      ? {
          botToken: e.SLACK_BOT_TOKEN,
          ...(e.SLACK_SIGNING_SECRET ? { signingSecret: e.SLACK_SIGNING_SECRET } : {}),
          command: e.SLACK_COMMAND,
          ...(e.SLACK_APP_TOKEN ? { appToken: e.SLACK_APP_TOKEN } : {}),
          ...(e.SLACK_API_URL ? { apiUrl: e.SLACK_API_URL } : {}),
        }
      : undefined;
  const teams =
    e.TEAMS_ENABLED || e.MICROSOFT_APP_ID
      ? {
          appType: e.MICROSOFT_APP_TYPE,
          allowedServiceUrls: e.TEAMS_ALLOWED_SERVICE_URLS,
          ...(e.MICROSOFT_APP_ID ? { appId: e.MICROSOFT_APP_ID } : {}),
          ...(e.MICROSOFT_APP_PASSWORD ? { appPassword: e.MICROSOFT_APP_PASSWORD } : {}),
          ...(e.MICROSOFT_APP_TENANT_ID ? { tenantId: e.MICROSOFT_APP_TENANT_ID } : {}),
        }
      : undefined;
  const anyChannel = !!(telegram || slack || teams);
  const admin = e.ADMIN_USERS ? { kind: 'users' as const, users: e.ADMIN_USERS } : e.ADMIN_TOKEN ? { kind: 'token' as const, token: e.ADMIN_TOKEN } : undefined;
  const trustProxy = e.TRUST_PROXY === undefined ? undefined : /^\d+$/.test(e.TRUST_PROXY) ? Number(e.TRUST_PROXY) : e.TRUST_PROXY === 'true' ? true : e.TRUST_PROXY === 'false' ? false : e.TRUST_PROXY;
  return {
    port: e.PORT,
    role: e.ROLE,
    dataDir,
    sqlitePath: resolve(dataDir, 'digit4sd.sqlite'),
    sqliteSynchronous: e.SQLITE_SYNCHRONOUS,
    ...(e.LESSONS_DIR ? { lessonsDir: resolve(e.LESSONS_DIR) } : {}),
    ...(e.MONGODB_URI ? { mongodbUri: e.MONGODB_URI } : {}),
    ...(e.REDIS_URL ? { redisUrl: e.REDIS_URL } : {}),
    queuePrefix: e.QUEUE_PREFIX,
    logLevel: e.LOG_LEVEL,
    ...(e.LOG_HASH_KEY ? { logHashKey: e.LOG_HASH_KEY } : {}),
    retention: e.DESIRED_RETENTION,
    groupQuestionSeconds: e.GROUP_QUESTION_SECONDS,
    console: e.CONSOLE ?? (!anyChannel && e.ROLE !== 'worker'),
    ...(e.COLUMNS ? { columns: e.COLUMNS } : {}),
    ...(telegram ? { telegram } : {}),
    ...(slack ? { slack } : {}),
    ...(teams ? { teams } : {}),
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    ...(e.XAPI_ENDPOINT && e.XAPI_USERNAME && e.XAPI_PASSWORD
      ? {
          xapi: {
            endpoint: e.XAPI_ENDPOINT.endsWith('/') ? e.XAPI_ENDPOINT : `${e.XAPI_ENDPOINT}/`,
            username: e.XAPI_USERNAME,
            password: e.XAPI_PASSWORD,
            homePage: (e.XAPI_HOMEPAGE ?? e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
            ...(e.XAPI_ACTOR_KEY ? { actorKey: e.XAPI_ACTOR_KEY } : {}),
          },
        }
      : {}),
    certificates: {
      minScore: e.CERTIFICATE_MIN_SCORE,
      issuerName: e.CERTIFICATE_ISSUER_NAME,
      // A key pasted into one line of an env file keeps its line breaks as \n.
      ...(e.CERTIFICATE_KEY ? { keyPem: e.CERTIFICATE_KEY.replace(/\\n/g, '\n') } : {}),
    },
    ...(admin ? { admin } : {}),
    ...(e.TELEGRAM_BOT_USERNAME ? { telegramUsername: e.TELEGRAM_BOT_USERNAME.replace(/^@/, '') } : {}),
    ...(trustProxy !== undefined ? { trustProxy } : {}),
  };
}
