/**
 * The dashboard's login: a shared access token (`ADMIN_TOKEN`) or named users with scrypt password
 * hashes (`ADMIN_USERS`); a signed session cookie that any process with the same settings accepts
 * (no session store); and a per-address backoff that slows down guessing.
 *
 * ```ts
 * const hash = await hashPassword('correct horse battery staple'); // "scrypt$16384$8$1$<salt>$<key>"
 * await verifyPassword('correct horse battery staple', hash); // true
 * ```
 */
import { createHash, createHmac, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const SCRYPT = { N: 16_384, r: 8, p: 1, keylen: 32 } as const;

function scryptAsync(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** A password hash in the form `scrypt$N$r$p$salt$key` (salt and key in base64url). */
export async function hashPassword(password: string, salt: Buffer = randomBytes(16)): Promise<string> {
  const key = await scryptAsync(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

const HASH_FORMAT = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([\w-]+)\$([\w-]+)$/;

/** Whether a string is a hash {@link hashPassword} makes (for validating settings). */
export function isPasswordHash(s: string): boolean {
  const m = HASH_FORMAT.exec(s);
  if (!m) return false;
  const [n, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return n >= 1024 && (n & (n - 1)) === 0 && r >= 1 && r <= 32 && p >= 1 && p <= 16 && 128 * n * r <= 256 * 1024 * 1024;
}

/** Checks a password against a hash in constant time; false for a malformed hash. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const m = HASH_FORMAT.exec(encoded);
  if (!m || !isPasswordHash(encoded)) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const expected = Buffer.from(m[5]!, 'base64url');
  const key = await scryptAsync(password, Buffer.from(m[4]!, 'base64url'), expected.length, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** Constant-time comparison of two strings (through their digests, so lengths do not leak). */
export function sameSecret(a: string, b: string): boolean {
  const d = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(d(a), d(b));
}

export type AdminLogin = { kind: 'token'; token: string } | { kind: 'users'; users: { name: string; hash: string }[] };

/** Checks a login attempt: the user's name, or null when it fails. */
export async function checkLogin(login: AdminLogin, name: string, password: string): Promise<string | null> {
  if (login.kind === 'token') return password && sameSecret(password, login.token) ? 'admin' : null;
  const user = login.users.find((u) => u.name === name);
  // A missing user costs as much as a wrong password, so that names cannot be probed by timing.
  const ok = await verifyPassword(password, user?.hash ?? DUMMY_HASH);
  return ok && user ? user.name : null;
}

const DUMMY_HASH = `scrypt$16384$8$1$${'A'.repeat(22)}$${'A'.repeat(43)}`;

/**
 * Session cookies: `<name>.<expiry ms>.<HMAC>`, signed with a key derived from the login settings,
 * so that every process with the same settings accepts them, and changing a password or the token
 * ends every session.
 */
export class Sessions {
  private readonly key: Buffer;
  constructor(
    secretMaterial: string,
    readonly ttlMs = 8 * 3_600_000,
  ) {
    this.key = createHash('sha256').update('digit4sd-admin-session\u0000').update(secretMaterial).digest();
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }

  issue(user: string, now: Date): string {
    const payload = `${Buffer.from(user).toString('base64url')}.${now.getTime() + this.ttlMs}`;
    return `${payload}.${this.sign(payload)}`;
  }

  /** The user of a valid, unexpired cookie value, else null. */
  verify(value: string | undefined, now: Date): string | null {
    if (!value) return null;
    const parts = value.split('.');
    if (parts.length !== 3) return null;
    const [user, expiry, mac] = parts as [string, string, string];
    const expected = this.sign(`${user}.${expiry}`);
    if (mac.length !== expected.length || !timingSafeEqual(Buffer.from(mac), Buffer.from(expected))) return null;
    if (!/^\d+$/.test(expiry) || Number(expiry) <= now.getTime()) return null;
    return Buffer.from(user, 'base64url').toString();
  }
}

export interface ThrottleOptions {
  /** Failures allowed before waiting starts. */
  freeFailures: number;
  /** The first wait; each further failure doubles it. */
  baseMs: number;
  maxMs: number;
  /** A quiet address is forgotten after this long. */
  forgetMs: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = { freeFailures: 3, baseMs: 2000, maxMs: 15 * 60_000, forgetMs: 60 * 60_000 };

/**
 * Per-address backoff for failed logins: after a few free failures, each failure makes the address
 * wait twice as long before it may try again. In memory, per process: several processes each slow
 * an attacker down on their own.
 */
export class LoginThrottle {
  private readonly entries = new Map<string, { failures: number; until: number; last: number }>();
  constructor(private readonly opts: ThrottleOptions = DEFAULT_THROTTLE) {}

  /** Seconds the address must still wait, or 0 when it may try now. */
  waitSeconds(address: string, now: Date): number {
    const e = this.entries.get(address);
    if (!e) return 0;
    return Math.max(0, Math.ceil((e.until - now.getTime()) / 1000));
  }

  failure(address: string, now: Date): void {
    const t = now.getTime();
    this.prune(t);
    const e = this.entries.get(address) ?? { failures: 0, until: 0, last: t };
    e.failures += 1;
    e.last = t;
    const over = e.failures - this.opts.freeFailures;
    e.until = over > 0 ? t + Math.min(this.opts.maxMs, this.opts.baseMs * 2 ** (over - 1)) : 0;
    this.entries.set(address, e);
  }

  success(address: string): void {
    this.entries.delete(address);
  }

  private prune(t: number): void {
    if (this.entries.size < 10_000) return;
    for (const [k, e] of this.entries) if (t - e.last > this.opts.forgetMs && e.until <= t) this.entries.delete(k);
  }
}
