import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('configuration', () => {
  it('runs on embedded defaults with nothing set: console chat, SQLite in ./data, port 3000', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 3000, role: 'all', console: true, retention: 0.9, groupQuestionSeconds: 30 });
    expect(c.sqlitePath).toMatch(/data\/digit4sd\.sqlite$/);
    expect(c.mongodbUri).toBeUndefined();
    expect(c.redisUrl).toBeUndefined();
  });

  it('writes SQLite with synchronous=NORMAL unless SQLITE_SYNCHRONOUS asks for full, and names the fix for anything else', () => {
    expect(loadConfig({}).sqliteSynchronous).toBe('normal');
    expect(loadConfig({ SQLITE_SYNCHRONOUS: 'full' }).sqliteSynchronous).toBe('full');
    expect(() => loadConfig({ SQLITE_SYNCHRONOUS: 'off' })).toThrow(/SQLITE_SYNCHRONOUS: .*Fix: set SQLITE_SYNCHRONOUS to normal .* or full/);
  });

  it('turns the console off when a channel is configured, unless asked for', () => {
    expect(loadConfig({ TELEGRAM_BOT_TOKEN: '123:abc' }).console).toBe(false);
    expect(loadConfig({ TELEGRAM_BOT_TOKEN: '123:abc' }, ['--console']).console).toBe(true);
    expect(loadConfig({}, ['--role', 'worker'])).toMatchObject({ role: 'worker', console: false });
  });

  it('names the variable, what is wrong and how to fix it', () => {
    const err = (() => {
      try {
        loadConfig({ PORT: 'abc', DESIRED_RETENTION: '2', REDIS_URL: 'localhost:6379' });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.problems).toHaveLength(3);
    expect(err.message).toMatch(/PORT: .*got "abc".*Fix: set PORT to a free TCP port/);
    expect(err.message).toMatch(/DESIRED_RETENTION: .*Fix: set DESIRED_RETENTION to a number between 0.7 and 0.99/);
    expect(err.message).toMatch(/REDIS_URL: must start with redis:\/\//);
  });

  it('requires the settings that go together, and never prints a secret', () => {
    expect(() => loadConfig({ TELEGRAM_BOT_TOKEN: '123:abc', TELEGRAM_WEBHOOK_URL: 'https://bot.example.org/tg' })).toThrow(/TELEGRAM_WEBHOOK_SECRET: is required when TELEGRAM_WEBHOOK_URL is set/);
    expect(() => loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1' })).toThrow(/SLACK_SIGNING_SECRET: is required/);
    expect(() => loadConfig({ MICROSOFT_APP_ID: 'id', MICROSOFT_APP_PASSWORD: 'pw', MICROSOFT_APP_TYPE: 'SingleTenant' })).toThrow(/MICROSOFT_APP_TENANT_ID/);
    try {
      loadConfig({ TELEGRAM_BOT_TOKEN: 'not a token secret123' });
    } catch (e) {
      expect((e as Error).message).toMatch(/TELEGRAM_BOT_TOKEN/);
      expect((e as Error).message).not.toContain('secret123');
    }
  });

  it('reads each channel\'s settings', () => {
    const c = loadConfig({
      TELEGRAM_BOT_TOKEN: '123:abc',
      TELEGRAM_WEBHOOK_URL: 'https://bot.example.org/tg/hook',
      TELEGRAM_WEBHOOK_SECRET: 's3cret',
      TELEGRAM_API_ROOT: 'http://127.0.0.1:8081',
      SLACK_BOT_TOKEN: 'xoxb-1',
      SLACK_SIGNING_SECRET: 'sig',
      SLACK_API_URL: 'https://slack-gov.com/api/',
      TEAMS_ENABLED: 'true',
    });
    expect(c.telegram).toEqual({ token: '123:abc', webhookUrl: 'https://bot.example.org/tg/hook', webhookSecret: 's3cret', apiRoot: 'http://127.0.0.1:8081' });
    expect(c.slack).toMatchObject({ botToken: 'xoxb-1', signingSecret: 'sig', apiUrl: 'https://slack-gov.com/api/', command: '/digit4sd' });
    expect(c.teams).toEqual({ appType: 'MultiTenant', allowedServiceUrls: [] });
  });

  it('needs SLACK_SIGNING_SECRET for Slack over HTTP only: Socket Mode (SLACK_APP_TOKEN) runs without it', () => {
    expect(loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1' }).slack).toEqual({ botToken: 'xoxb-1', appToken: 'xapp-1', command: '/digit4sd' });
    expect(loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1', SLACK_SIGNING_SECRET: 'sig' }).slack).toMatchObject({ signingSecret: 'sig', appToken: 'xapp-1' });
    expect(() => loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1' })).toThrow(/SLACK_SIGNING_SECRET: is required for Slack over HTTP .*or set SLACK_APP_TOKEN for Socket Mode.*Fix: set SLACK_SIGNING_SECRET/);
    expect(() => loadConfig({ SLACK_SIGNING_SECRET: 'sig' })).toThrow(/SLACK_BOT_TOKEN: is required .*Fix: set SLACK_BOT_TOKEN/);
    expect(() => loadConfig({ SLACK_APP_TOKEN: 'xapp-1' })).toThrow(/SLACK_BOT_TOKEN: is required .*Fix: set SLACK_BOT_TOKEN/);
  });

  it('reads the log hash key and the extra Teams service URLs, and names what is wrong with them', () => {
    const c = loadConfig({ LOG_HASH_KEY: 'k'.repeat(32), TEAMS_ENABLED: 'true', TEAMS_ALLOWED_SERVICE_URLS: 'http://127.0.0.1:3978, http://localhost:4000/' });
    expect(c.logHashKey).toBe('k'.repeat(32));
    expect(c.teams?.allowedServiceUrls).toEqual(['http://127.0.0.1:3978', 'http://localhost:4000/']);
    expect(loadConfig({}).logHashKey).toBeUndefined();
    const err = (() => {
      try {
        loadConfig({ LOG_HASH_KEY: 'short-secret', TEAMS_ALLOWED_SERVICE_URLS: 'localhost:3978' });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(err.message).toMatch(/LOG_HASH_KEY: must be at least 16 characters long .*Fix: set LOG_HASH_KEY/);
    expect(err.message).not.toContain('short-secret');
    expect(err.message).toMatch(/TEAMS_ALLOWED_SERVICE_URLS: must be http:\/\/ or https:\/\/ URLs/);
  });

  it('takes the console width from COLUMNS, and names it when it is not a width', () => {
    expect(loadConfig({ COLUMNS: '40' }).columns).toBe(40);
    expect(loadConfig({}).columns).toBeUndefined();
    expect(() => loadConfig({ COLUMNS: 'wide' })).toThrow(/COLUMNS: .*Fix: set COLUMNS to the terminal width/);
    expect(() => loadConfig({ COLUMNS: '5' })).toThrow(/COLUMNS/);
  });

  it('reads the Telegram username for workshop join links, and names what is wrong with it', () => {
    expect(loadConfig({}).telegramUsername).toBeUndefined();
    expect(loadConfig({ TELEGRAM_BOT_USERNAME: '@digit4sd_bot' }).telegramUsername).toBe('digit4sd_bot');
    expect(() => loadConfig({ TELEGRAM_BOT_USERNAME: 'no spaces please' })).toThrow(/TELEGRAM_BOT_USERNAME: .*Fix:/);
  });
});
