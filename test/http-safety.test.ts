/**
 * What the HTTP server gives away to a request it refuses: nothing. The whole app (`startApp`) runs
 * with a Telegram webhook and NODE_ENV=development, where express's own handler would print HTML
 * stack traces; bodies are never parsed before the request is authenticated, never echoed, and
 * never logged.
 */
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHmac, createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type RunningApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { createLogger, hashId, setLogHashKey } from '../src/logger.js';
import { LOG_HASH_KEY_FILE, loadLogHashKey } from '../src/hash-key.js';
import { FakeTelegram } from './fakes/telegram-api.js';
import { FakeSlackApi } from './fakes/slack-api.js';
import { FIXTURE_DIR } from './helpers.js';

const SECRET = 'webhook-secret-123';
const BODY = '{"update_id": 1, "message": {"text": "Amina Diallo, ministry of finance", "from": {"id": 987654321}}, broken';

let fake: FakeTelegram;
let slack: FakeSlackApi;
let app: RunningApp;
let base: string;
let dataDir: string;
const logLines: string[] = [];
const savedEnv = process.env.NODE_ENV;

beforeAll(async () => {
  process.env.NODE_ENV = 'development';
  fake = new FakeTelegram();
  await fake.start();
  slack = new FakeSlackApi();
  await slack.start();
  dataDir = mkdtempSync(join(tmpdir(), 'digit4sd-http-'));
  const config = loadConfig({
    TELEGRAM_BOT_TOKEN: fake.token,
    TELEGRAM_API_ROOT: fake.apiRoot,
    TELEGRAM_WEBHOOK_URL: 'https://bot.example.org/tg/hook',
    TELEGRAM_WEBHOOK_SECRET: SECRET,
    SLACK_BOT_TOKEN: 'xoxb-test-token',
    SLACK_SIGNING_SECRET: 'slack-signing-secret',
    SLACK_API_URL: slack.apiUrl,
    PORT: '0',
    DATA_DIR: dataDir,
  });
  const sink = new Writable({ write: (chunk, _enc, done) => (logLines.push(String(chunk)), done()) });
  app = await startApp({ config, logger: createLogger('debug', sink), lessonsDir: FIXTURE_DIR });
  base = `http://127.0.0.1:${(app.server!.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await app.stop();
  await fake.stop();
  await slack.stop();
  rmSync(dataDir, { recursive: true, force: true });
  process.env.NODE_ENV = savedEnv;
});
afterEach(() => {
  logLines.length = 0;
});

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

describe('the HTTP server', () => {
  it('refuses a webhook request without the secret before reading its body, and logs nothing of it', async () => {
    const res = await post('/tg/hook', BODY);
    expect(res.status).toBe(401);
    expect(await res.text()).toBe('');
    const wrong = await post('/tg/hook', BODY, { 'X-Telegram-Bot-Api-Secret-Token': 'webhook-secret-124' });
    expect(wrong.status).toBe(401);
    expect(logLines.join('')).not.toMatch(/Amina|987654321|broken/);
  });

  it('refuses a Slack request without a valid signature before reading its body, and logs nothing of it', async () => {
    const res = await post('/slack/events', BODY, { 'X-Slack-Signature': 'v0=00', 'X-Slack-Request-Timestamp': String(Math.floor(Date.now() / 1000)) });
    expect(res.status).toBe(401);
    expect(await res.text()).not.toMatch(/Amina|at |\//);
    expect(logLines.join('')).not.toMatch(/Amina|987654321|broken/);
  });

  it('answers a malformed body with its status only and logs one structured line without the content', async () => {
    const res = await post('/tg/hook', BODY, { 'X-Telegram-Bot-Api-Secret-Token': SECRET });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe('Bad Request');
    expect(logLines).toHaveLength(1);
    expect(JSON.parse(logLines[0]!)).toMatchObject({ where: 'http', method: 'POST', status: 400, type: 'entity.parse.failed', msg: 'request refused' });
    expect(logLines[0]).not.toMatch(/Amina|987654321|broken/);
  });

  it('answers an error in a route with no message and no stack, whatever NODE_ENV says', async () => {
    expect(process.env.NODE_ENV).toBe('development');
    const tooBig = await post('/tg/hook', JSON.stringify({ update_id: 2, pad: 'x'.repeat(2_000_000) }), { 'X-Telegram-Bot-Api-Secret-Token': SECRET });
    expect(tooBig.status).toBe(413);
    expect(await tooBig.text()).toBe('Payload Too Large');
    const missing = await post('/nowhere', BODY);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe('Not Found');
    for (const line of logLines) expect(line).not.toMatch(/Amina|\/work\/|node_modules/);
  });
});

describe('log hashes', () => {
  it('are HMAC-SHA256 under a key generated once in DATA_DIR (owner-only), or LOG_HASH_KEY when set', () => {
    const key = readFileSync(join(dataDir, LOG_HASH_KEY_FILE), 'utf8').trim();
    expect(key.length).toBeGreaterThanOrEqual(32);
    expect(statSync(join(dataDir, LOG_HASH_KEY_FILE)).mode & 0o077).toBe(0);
    // The same key again on the next start, so that hashes can be followed across restarts.
    expect(loadLogHashKey(undefined, dataDir).toString()).toBe(key);
    expect(loadLogHashKey('a-configured-secret-value', dataDir).toString()).toBe('a-configured-secret-value');
    setLogHashKey(Buffer.from(key));
    expect(hashId('987654321')).toBe(createHmac('sha256', key).update('987654321').digest('base64url').slice(0, 12));
    // Not the old fixed public salt, which anyone could reverse by hashing guessed ids.
    expect(hashId('987654321')).not.toBe(createHash('sha256').update('digit4sd').update('987654321').digest('base64url').slice(0, 12));
    setLogHashKey(Buffer.from('another-key-for-another-deployment'));
    expect(hashId('987654321')).not.toBe(createHmac('sha256', key).update('987654321').digest('base64url').slice(0, 12));
  });
});
