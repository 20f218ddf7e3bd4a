/**
 * The dashboard's login: password hashes, signed sessions, the per-address backoff, the settings
 * that turn it on, the Secure cookie behind an HTTPS proxy, and the 429 after repeated failures.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createHttpApp, listen } from '../src/server.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { createAdminApp } from '../src/web/admin.js';
import { checkLogin, hashPassword, isPasswordHash, LoginThrottle, Sessions, verifyPassword } from '../src/web/auth.js';
import { fixtureCourse } from './helpers.js';
import { newLearnerState } from '../src/engine/state.js';

const T0 = new Date('2026-11-30T12:00:00Z');

describe('dashboard login', () => {
  it('hashes passwords with scrypt and a random salt, and verifies them', async () => {
    const a = await hashPassword('correct horse battery staple');
    const b = await hashPassword('correct horse battery staple');
    expect(a).toMatch(/^scrypt\$16384\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    expect(a).not.toBe(b);
    expect(isPasswordHash(a)).toBe(true);
    expect(await verifyPassword('correct horse battery staple', a)).toBe(true);
    expect(await verifyPassword('correct horse battery stapler', a)).toBe(false);
    expect(await verifyPassword('x', 'plain-text')).toBe(false);
    const users = { kind: 'users' as const, users: [{ name: 'amina', hash: a }] };
    expect(await checkLogin(users, 'amina', 'correct horse battery staple')).toBe('amina');
    expect(await checkLogin(users, 'nobody', 'correct horse battery staple')).toBeNull();
    expect(await checkLogin({ kind: 'token', token: 'sixteen-chars-at-least' }, '', 'sixteen-chars-at-least')).toBe('admin');
    expect(await checkLogin({ kind: 'token', token: 'sixteen-chars-at-least' }, '', '')).toBeNull();
  });

  it('signs sessions that expire, refuses tampered ones, and ends them all when the login settings change', () => {
    const s = new Sessions('token:abc', 3_600_000);
    const cookie = s.issue('amina', T0);
    expect(s.verify(cookie, T0)).toBe('amina');
    expect(s.verify(cookie, new Date(T0.getTime() + 3_600_000))).toBeNull();
    const [user, expiry, mac] = cookie.split('.');
    expect(s.verify(`${Buffer.from('root').toString('base64url')}.${expiry}.${mac}`, T0)).toBeNull();
    expect(s.verify(`${user}.${Number(expiry) + 1000}.${mac}`, T0)).toBeNull();
    expect(s.verify(undefined, T0)).toBeNull();
    expect(new Sessions('token:changed').verify(cookie, T0)).toBeNull();
  });

  it('lets an address fail a few times, then makes it wait twice as long after each failure; a success clears it', () => {
    const t = new LoginThrottle({ freeFailures: 2, baseMs: 1000, maxMs: 5000, forgetMs: 60_000 });
    const at = (s: number) => new Date(T0.getTime() + s * 1000);
    t.failure('1.2.3.4', at(0));
    t.failure('1.2.3.4', at(0));
    expect(t.waitSeconds('1.2.3.4', at(0))).toBe(0);
    t.failure('1.2.3.4', at(0));
    expect(t.waitSeconds('1.2.3.4', at(0))).toBe(1);
    t.failure('1.2.3.4', at(1));
    expect(t.waitSeconds('1.2.3.4', at(1))).toBe(2);
    for (let i = 0; i < 5; i++) t.failure('1.2.3.4', at(3));
    expect(t.waitSeconds('1.2.3.4', at(3))).toBe(5);
    expect(t.waitSeconds('5.6.7.8', at(3))).toBe(0);
    t.success('1.2.3.4');
    expect(t.waitSeconds('1.2.3.4', at(3))).toBe(0);
  });

  it('is turned on by ADMIN_TOKEN or ADMIN_USERS, and says how to fix a bad value without showing it', async () => {
    expect(loadConfig({}).admin).toBeUndefined();
    expect(loadConfig({ ADMIN_TOKEN: 'a-long-enough-token' }).admin).toEqual({ kind: 'token', token: 'a-long-enough-token' });
    expect(() => loadConfig({ ADMIN_TOKEN: 'short' })).toThrow(/ADMIN_TOKEN: must be at least 16 characters.*Fix: set ADMIN_TOKEN to a long random string/);
    const hash = await hashPassword('another long password');
    expect(loadConfig({ ADMIN_USERS: `amina:${hash}, ben:${hash}` }).admin).toEqual({ kind: 'users', users: [{ name: 'amina', hash }, { name: 'ben', hash }] });
    let message = '';
    try {
      loadConfig({ ADMIN_USERS: 'amina:secret-password' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/ADMIN_USERS: "amina" is not a name:hash pair made by npm run admin:hash.*Fix: set ADMIN_USERS/);
    expect(message).not.toMatch(/secret-password/);
    expect(loadConfig({ TRUST_PROXY: '1' }).trustProxy).toBe(1);
    expect(loadConfig({ TRUST_PROXY: 'loopback' }).trustProxy).toBe('loopback');
  });
});

describe('dashboard login over HTTP', () => {
  let server: Server;
  let base: string;
  const store = new SqliteStore(':memory:');

  beforeAll(async () => {
    const hash = await hashPassword('a long enough password');
    const app = createHttpApp([]);
    app.use('/admin', createAdminApp({ store, course: fixtureCourse(), login: { kind: 'users', users: [{ name: 'amina', hash }] }, trustProxy: 'loopback', throttle: { freeFailures: 2, baseMs: 60_000, maxMs: 600_000, forgetMs: 3_600_000 } }));
    server = await listen(app, 0, '127.0.0.1');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await store.close();
  });

  const login = (name: string, password: string, headers: Record<string, string> = {}) =>
    fetch(`${base}/admin/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams({ name, password }) });

  it('sets a Secure cookie behind an HTTPS proxy it trusts, and reads only with it', async () => {
    const res = await login('amina', 'a long enough password', { 'x-forwarded-proto': 'https' });
    expect(res.status).toBe(303);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^digit4sd_admin=[^;]+; Max-Age=28800; Path=\/admin; Expires=[^;]+; HttpOnly; Secure; SameSite=Strict$/);
    const page = await fetch(`${base}/admin/funnel`, { headers: { cookie: cookie.split(';')[0]! } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(await page.text()).toMatch(/Course funnel/);
    // Without HTTPS in front, the cookie is not marked Secure (local use).
    expect((await login('amina', 'a long enough password')).headers.get('set-cookie')).not.toMatch(/Secure/);
  });

  it('answers 401 to a wrong password, then 429 with Retry-After once the free failures are used up, even for the right one', async () => {
    const headers = { 'x-forwarded-for': '203.0.113.9' };
    expect((await login('amina', 'wrong', headers)).status).toBe(401);
    expect((await login('nobody', 'wrong', headers)).status).toBe(401);
    expect((await login('amina', 'wrong', headers)).status).toBe(401);
    const blocked = await login('amina', 'a long enough password', headers);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBe(60);
    expect(await blocked.text()).toMatch(/Try again in 60 seconds/);
    // Another address is not slowed down.
    expect((await login('amina', 'a long enough password', { 'x-forwarded-for': '203.0.113.10' })).status).toBe(303);
  });

  it('refuses a bad filter with a clear message', async () => {
    const cookie = (await login('amina', 'a long enough password', { 'x-forwarded-for': '198.51.100.1' })).headers.get('set-cookie')!.split(';')[0]!;
    const res = await fetch(`${base}/admin?from=2026-13-45`, { headers: { cookie } });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/The filter is not valid: from: /);
  });
});

describe('dashboard page cache', () => {
  it('serves a page computed less than a minute ago as is, then an older one at once while it computes a fresh one', async () => {
    const store = new SqliteStore(':memory:');
    let reads = 0;
    const counting = new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'nudgeStats') return (...args: unknown[]) => (reads++, (value as (...a: unknown[]) => unknown).apply(target, args));
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    let clock = T0.getTime();
    const app = createHttpApp([]);
    app.use('/admin', createAdminApp({ store: counting, course: fixtureCourse(), login: { kind: 'token', token: 'cache-test-token-123456' }, now: () => new Date(clock) }));
    const server = await listen(app, 0, '127.0.0.1');
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const login = await fetch(`${base}/admin/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'password=cache-test-token-123456' });
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      const get = async (path: string) => expect((await fetch(`${base}${path}`, { headers: { cookie } })).status).toBe(200);
      // Five learners, so that the page is not suppressed and reads its reminders.
      for (let i = 0; i < 5; i++) {
        const key = { channel: 'telegram' as const, userId: `c${i}` };
        await store.commitLearner({ key, expectedVersion: 0, state: { ...newLearnerState(new Date(clock - 86_400_000), 'en'), lastSeenAt: new Date(clock).toISOString() }, address: { channel: 'telegram', conversationId: key.userId, kind: 'direct' }, nudgeAt: null, now: new Date(clock) });
      }
      await get('/admin/reminders');
      expect(reads).toBe(1);
      await get('/admin/reminders');
      await get('/admin/csv/reminders/reminders-by-hour');
      expect(reads).toBe(1);
      clock += 61_000;
      await get('/admin/reminders');
      // Served from the earlier result; the fresh one was started in the background.
      expect(reads).toBe(2);
      await get('/admin/reminders');
      expect(reads).toBe(2);
      // Other filters are other pages.
      await get('/admin/reminders?lang=en');
      expect(reads).toBe(3);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
    }
  });
});
