/**
 * A local fake of the Slack Web API on 127.0.0.1 with a random port, for the real Slack SDK to
 * talk to (`slackApiUrl: fake.apiUrl`). It answers the methods the bot calls as Slack documents
 * them, records every call with its decoded arguments, and can fail the next calls of a method
 * (a Slack error such as `channel_not_found`, or HTTP 429 with Retry-After). It also takes the
 * POSTs to `response_url`s and file upload URLs it hands out. For Socket Mode it answers
 * `apps.connections.open`, with the app-level token only, with the URL of a {@link
 * import('./slack-socket.js').FakeSlackSocket} attached to it.
 */
import express from 'express';
import { EventEmitter } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackCall {
  method: string;
  args: Record<string, unknown>;
  /** The bearer token the call carried. */
  token: string | undefined;
  /** When the fake received it (ms since the epoch). */
  at: number;
  /** What the fake answered. */
  result: Record<string, unknown>;
}

export type SlackFailure = { status: 429; retryAfter: number } | { error: string };

export interface FakeUser {
  id: string;
  name: string;
  displayName?: string;
  locale?: string;
}

/** A method's next call, held unanswered until released (to stop the bot at a chosen point). */
export interface Hold {
  /** Resolves when the held call has arrived. */
  reached: Promise<void>;
  /** Answers the held call (now, or as soon as it arrives). */
  release(): void;
}

/** Emits `change` after each attempt is recorded, so tests can wait for a call instead of sleeping. */
export class FakeSlackApi extends EventEmitter {
  /** Successful calls, in order. */
  readonly calls: SlackCall[] = [];
  /** Every attempt, failed ones included. */
  readonly attempts: { method: string; outcome: string; at: number }[] = [];
  /** Bodies POSTed to response_url. */
  readonly responses: { path: string; body: Record<string, unknown> }[] = [];
  readonly users = new Map<string, FakeUser>();
  /** Files uploaded to the upload URLs handed out, by file id. */
  readonly uploads = new Map<string, Buffer>();
  private readonly failures = new Map<string, SlackFailure[]>();
  private readonly holds = new Map<string, { arrive: () => void; gate: Promise<void> }[]>();
  private readonly releases = new Set<() => void>();
  private server?: Server;
  private seq = 0;
  url = '';
  /** The bot token every Web API method but apps.connections.open accepts. */
  botToken = 'xoxb-test-token';
  /** The app-level token apps.connections.open accepts (Socket Mode). */
  appToken = 'xapp-1-test';
  /** Hands out a fresh WebSocket URL for apps.connections.open; set by the Socket Mode fake. */
  socketUrl?: () => string;

  get apiUrl(): string {
    return `${this.url}/api/`;
  }

  /** A response_url the bot may POST to. */
  responseUrl(id: string): string {
    return `${this.url}/respond/${id}`;
  }

  /** Makes the next calls of `method` fail, one failure each. */
  failNext(method: string, ...failures: SlackFailure[]): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), ...failures]);
  }

  /** Holds the next call of `method` unanswered until released; stop() releases what is still held. */
  holdNext(method: string): Hold {
    let arrive!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((resolve) => (arrive = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    this.releases.add(release);
    this.holds.set(method, [...(this.holds.get(method) ?? []), { arrive, gate }]);
    return { reached, release };
  }

  /** Resolves with `check()`'s value once it is truthy, checking again after every call; rejects after `timeoutMs`. */
  until<T>(what: string, check: () => T | undefined | false | null, timeoutMs = 5000): Promise<T> {
    return waitFor(this, what, check, timeoutMs);
  }

  /** Successful calls of one method. */
  of(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  async start(): Promise<void> {
    const app = express();
    app.use(express.urlencoded({ extended: false, limit: '5mb' }), express.json({ limit: '5mb' }), express.raw({ type: () => true, limit: '5mb' }));
    app.post('/respond/:id', (req, res) => {
      this.responses.push({ path: req.params.id, body: req.body as Record<string, unknown> });
      res.send('ok');
    });
    app.post('/upload/:id', (req, res) => {
      if (Buffer.isBuffer(req.body)) this.uploads.set(req.params.id, uploadedFile(String(req.headers['content-type'] ?? ''), req.body));
      res.send('OK - 1');
    });
    app.post('/api/:method', async (req, res) => {
      const method = req.params.method;
      const hold = this.holds.get(method)?.shift();
      if (hold) {
        hold.arrive();
        await hold.gate;
      }
      const args = decode(req.body);
      const auth = req.headers.authorization;
      const token = auth?.startsWith('Bearer ') ? auth.slice(7) : typeof args.token === 'string' ? args.token : undefined;
      const at = Date.now();
      const failure = this.failures.get(method)?.shift();
      if (failure) {
        if ('status' in failure) {
          this.record({ method, outcome: '429', at });
          res.status(429).set('Retry-After', String(failure.retryAfter)).json({ ok: false, error: 'ratelimited' });
        } else {
          this.record({ method, outcome: failure.error, at });
          res.json({ ok: false, error: failure.error });
        }
        return;
      }
      const refusal = this.refuseToken(method, token);
      if (refusal) {
        this.record({ method, outcome: refusal, at });
        res.json({ ok: false, error: refusal });
        return;
      }
      const result = this.answer(method, args);
      if (result.ok) this.calls.push({ method, args, token, at, result });
      this.record({ method, outcome: result.ok ? 'ok' : String(result.error), at });
      res.json(result);
    });
    await new Promise<void>((resolve) => {
      this.server = app.listen(0, '127.0.0.1', () => resolve());
    });
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  /** As Slack: apps.connections.open takes only the app-level token, every other method only the bot token. */
  private refuseToken(method: string, token: string | undefined): string | undefined {
    const appLevel = method === 'apps.connections.open';
    if (token === (appLevel ? this.appToken : this.botToken)) return undefined;
    return token === (appLevel ? this.botToken : this.appToken) ? 'not_allowed_token_type' : 'invalid_auth';
  }

  private record(attempt: { method: string; outcome: string; at: number }): void {
    this.attempts.push(attempt);
    this.emit('change', attempt);
  }

  private ts(): string {
    this.seq += 1;
    return `1700000000.${String(this.seq).padStart(6, '0')}`;
  }

  private answer(method: string, args: Record<string, unknown>): Record<string, unknown> {
    switch (method) {
      case 'apps.connections.open':
        return this.socketUrl ? { ok: true, url: this.socketUrl() } : { ok: false, error: 'internal_error' };
      case 'auth.test':
        return { ok: true, url: 'https://test.slack.com/', team: 'Test', user: 'digit4sd', team_id: 'T0001', user_id: 'UBOT', bot_id: 'BBOT' };
      case 'chat.postMessage': {
        const ts = this.ts();
        return { ok: true, channel: args.channel, ts, message: { type: 'message', text: args.text, user: 'UBOT', bot_id: 'BBOT', ts } };
      }
      case 'chat.update':
        return { ok: true, channel: args.channel, ts: args.ts, text: args.text };
      case 'chat.postEphemeral':
        return { ok: true, message_ts: this.ts() };
      case 'conversations.open':
        return { ok: true, channel: { id: `D${String(args.users)}` } };
      case 'views.publish':
        return { ok: true, view: { id: 'V0001', type: 'home' } };
      case 'users.info': {
        const id = String(args.user);
        const u = this.users.get(id);
        if (!u) return { ok: false, error: 'user_not_found' };
        return { ok: true, user: { id, name: u.name, real_name: u.name, profile: { display_name: u.displayName ?? '' }, ...(u.locale ? { locale: u.locale } : {}) } };
      }
      case 'files.getUploadURLExternal': {
        const id = `F${this.seq++}`;
        return { ok: true, upload_url: `${this.url}/upload/${id}`, file_id: id };
      }
      case 'files.completeUploadExternal':
        return { ok: true, files: [{ id: 'F1', title: 'file' }] };
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  async stop(): Promise<void> {
    for (const release of this.releases) release();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** Web API arguments arrive form-encoded with JSON in some fields (blocks, view), or as JSON. */
function decode(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Buffer.isBuffer(body)) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (typeof v === 'string' && /^[[{]/.test(v)) {
      try {
        out[k] = JSON.parse(v);
        continue;
      } catch {
        // Not JSON after all: keep the string, as Slack would.
      }
    }
    out[k] = v;
  }
  return out;
}

/**
 * Resolves with `check()`'s value once it is truthy, checking again on every `change` the emitter
 * announces; rejects after `timeoutMs`, naming `what`.
 */
export function waitFor<T>(emitter: EventEmitter, what: string, check: () => T | undefined | false | null, timeoutMs: number): Promise<T> {
  const first = check();
  if (first) return Promise.resolve(first);
  return new Promise<T>((resolve, reject) => {
    const onChange = () => {
      const value = check();
      if (!value) return;
      cleanup();
      resolve(value);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      emitter.off('change', onChange);
    };
    emitter.on('change', onChange);
  });
}

/** The file in an upload: the body itself, or the file part of a multipart/form-data body. */
function uploadedFile(contentType: string, body: Buffer): Buffer {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  if (!boundary) return body;
  for (const part of body.toString('latin1').split(`--${boundary[1] ?? boundary[2]}`)) {
    const m = /^\r\n([\s\S]*?)\r\n\r\n([\s\S]*)\r\n$/.exec(part);
    if (m && /filename=/.test(m[1]!)) return Buffer.from(m[2]!, 'latin1');
  }
  return body;
}
