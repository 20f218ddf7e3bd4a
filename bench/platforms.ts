/**
 * Minimal local fakes of the three platforms' HTTP APIs for the benchmarks: they answer every call
 * the way the platform documents it (so that the real SDKs are satisfied), cost as little as
 * possible themselves, and note when each conversation receives a message, so that the driver can
 * measure the time from an update to its first reply. Tests use the fuller fakes in `test/fakes`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Platform = 'telegram' | 'slack' | 'teams';

/** Resolves when a conversation gets a message. */
type Waiter = (at: number) => void;

export class PlatformFake {
  private server?: Server;
  private readonly waiters = new Map<string, Waiter[]>();
  /** Messages sent (not edits), by conversation. */
  sends = 0;
  /** Every API call, by method. */
  readonly calls = new Map<string, number>();
  /** When the last call came (ms), to wait for quiet. */
  lastCallAt = 0;
  private seq = 1000;
  url = '';
  /** Called on every API call with its method (Telegram, Slack) or path (Teams) and decoded body. */
  onCall?: (method: string, body: Record<string, unknown>, at: number) => void;

  constructor(readonly platform: Platform) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.serve(req, res));
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** A promise for the next message to `conversation`, with the time it came. */
  nextMessage(conversation: string): Promise<number> {
    return new Promise((resolve) => {
      const list = this.waiters.get(conversation) ?? [];
      list.push(resolve);
      this.waiters.set(conversation, list);
    });
  }

  /** Resolves once no call has come for `quietMs`. */
  async quiet(quietMs = 500, timeoutMs = 120_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (Date.now() - this.lastCallAt >= quietMs) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private delivered(conversation: string): void {
    this.sends += 1;
    const at = performance.now();
    const list = this.waiters.get(conversation);
    if (!list?.length) return;
    this.waiters.delete(conversation);
    for (const w of list) w(at);
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const type = req.headers['content-type'] ?? '';
    let body: Record<string, unknown> = {};
    if (type.includes('json') && raw) body = JSON.parse(raw) as Record<string, unknown>;
    else if (type.includes('urlencoded')) body = Object.fromEntries(new URLSearchParams(raw));
    else if (type.includes('multipart')) body = multipartFields(raw, type);
    this.lastCallAt = Date.now();
    const path = (req.url ?? '/').split('?')[0]!;
    const answer = this.platform === 'telegram' ? this.telegram(path, body) : this.platform === 'slack' ? this.slack(path, body) : this.teams(path, body);
    const json = JSON.stringify(answer);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
    res.end(json);
  }

  private count(method: string, body: Record<string, unknown> = {}): void {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    this.onCall?.(method, body, performance.now());
  }

  private telegram(path: string, p: Record<string, unknown>): unknown {
    const method = path.split('/').pop() ?? '';
    this.count(method, p);
    const date = Math.floor(Date.now() / 1000);
    const chat = { id: Number(p.chat_id ?? 0), type: Number(p.chat_id) < 0 ? 'group' : 'private' };
    switch (method) {
      case 'getMe':
        return { ok: true, result: { id: 1, is_bot: true, first_name: 'Bench', username: 'bench_bot', can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false } };
      case 'getChatMemberCount':
        return { ok: true, result: Number(process.env.GROUP_MEMBERS ?? 1001) };
      case 'sendMessage':
      case 'sendDocument':
        this.delivered(String(p.chat_id));
        return { ok: true, result: { message_id: ++this.seq, chat, date, text: p.text ?? '' } };
      case 'editMessageText':
      case 'editMessageReplyMarkup':
        return { ok: true, result: { message_id: Number(p.message_id ?? 0), chat, date, text: p.text ?? '', edit_date: date } };
      default:
        return { ok: true, result: true };
    }
  }

  private slack(path: string, a: Record<string, unknown>): unknown {
    const method = path.replace(/^\/api\//, '');
    this.count(method, a);
    const ts = `1700000000.${String(++this.seq).padStart(6, '0')}`;
    switch (method) {
      case 'auth.test':
        return { ok: true, url: 'https://bench.slack.com/', team: 'Bench', user: 'bot', team_id: 'T0001', user_id: 'UBOT', bot_id: 'BBOT' };
      case 'conversations.open':
        return { ok: true, channel: { id: `D${String(a.users ?? '').slice(1)}` } };
      case 'users.info':
        return { ok: true, user: { id: a.user, name: 'learner', real_name: 'Learner', locale: 'en-US', profile: { display_name: 'Learner' } } };
      case 'chat.postMessage':
        this.delivered(String(a.channel));
        return { ok: true, channel: a.channel, ts, message: { type: 'message', text: a.text, ts } };
      case 'chat.postEphemeral':
        this.delivered(String(a.channel));
        return { ok: true, message_ts: ts };
      case 'chat.update':
        return { ok: true, channel: a.channel, ts: a.ts };
      case 'files.getUploadURLExternal':
        return { ok: true, upload_url: `${this.url}/upload/${this.seq}`, file_id: `F${this.seq}` };
      default:
        return { ok: true };
    }
  }

  private teams(path: string, _body: Record<string, unknown>): unknown {
    const m = /^\/v3\/conversations\/([^/]+)\/activities/.exec(path);
    this.count(m ? 'activities' : path);
    if (m) {
      this.delivered(decodeURIComponent(m[1]!));
      return { id: `act-${++this.seq}` };
    }
    if (path === '/v3/conversations') return { id: `conv-${++this.seq}` };
    return {};
  }
}

function multipartFields(raw: string, type: string): Record<string, unknown> {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(type);
  if (!boundary) return {};
  const out: Record<string, unknown> = {};
  for (const part of raw.split(`--${boundary[1] ?? boundary[2]}`)) {
    const name = /name="([^"]+)"/.exec(part);
    if (!name) continue;
    const value = part.split('\r\n\r\n').slice(1).join('\r\n\r\n').replace(/\r\n$/, '');
    out[name[1]!] = value;
  }
  return out;
}
