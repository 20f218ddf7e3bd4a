/**
 * A local fake of the Telegram Bot API on 127.0.0.1, for driving the real grammY client in tests.
 * It answers `POST /bot<token>/<method>` as the Bot API documents it (JSON or multipart bodies,
 * `{ ok, result }` or `{ ok: false, error_code, description, parameters }`), long-polls getUpdates,
 * keeps the messages the bot sent (with edits applied), and builds realistic updates.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TgUser {
  id: number;
  is_bot: boolean;
  first_name: string;
  last_name?: string;
  username?: string;
  language_code?: string;
}

export interface TgChat {
  id: number;
  type: 'private' | 'group' | 'supergroup';
  title?: string;
  first_name?: string;
  username?: string;
}

export interface TgMessage {
  message_id: number;
  from?: TgUser;
  chat: TgChat;
  date: number;
  text?: string;
  entities?: { type: string; offset: number; length: number }[];
  reply_to_message?: TgMessage;
  reply_markup?: { inline_keyboard: { text: string; callback_data: string }[][] };
  edit_date?: number;
}

export interface TgUpdate {
  update_id: number;
  message?: TgMessage;
  callback_query?: { id: string; from: TgUser; message?: TgMessage; chat_instance: string; data?: string };
}

export interface ApiCall {
  method: string;
  payload: Record<string, unknown>;
}

/** A sent message as the fake keeps it: the HTML the bot sent, and the message object. */
export interface SentMessage {
  chatId: number;
  messageId: number;
  html: string;
  message: TgMessage;
  edits: number;
  /** For sendDocument: the file as sent, and its caption. */
  document?: { filename: string; bytes: Buffer; caption?: string };
}

interface Failure {
  error_code: number;
  description: string;
  parameters?: { retry_after?: number; migrate_to_chat_id?: number };
}

const now = () => Math.floor(Date.now() / 1000);

/** Strips Telegram HTML to the text a user sees. */
export function visibleText(html: string): string {
  return html
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');
}

export class FakeTelegram {
  readonly token = '123456789:AAFake-Token_for_tests';
  readonly bot: TgUser = { id: 123456789, is_bot: true, first_name: 'DiGIT4SD Bot', username: 'digit4sd_test_bot' };
  readonly calls: ApiCall[] = [];
  readonly sent: SentMessage[] = [];
  /** Requests Telegram would have refused as malformed (bad HTML); a test expects none. */
  readonly problems: string[] = [];
  webhook: { url: string; secret_token?: string } | undefined;
  /** How long each API call but getUpdates takes before it is answered (a slow platform); 0 by default. */
  latencyMs = 0;
  private server: Server | undefined;
  private pending: TgUpdate[] = [];
  private confirmed = 0;
  private nextUpdate = 5000;
  private nextMessage = 100;
  private nextCallback = 1;
  private readonly chats = new Map<number, TgChat>();
  private readonly blocked = new Set<number>();
  private readonly left = new Set<string>();
  private readonly failures = new Map<string, Failure[]>();
  private readonly down = new Map<string, Failure>();
  private readonly listeners = new Set<() => void>();

  /** The API root to give grammY (`client.apiRoot`). */
  get apiRoot(): string {
    const { port } = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.serve(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    this.notify();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The next call of `method` fails with this error (once per call to failNext). */
  failNext(method: string, failure: Failure): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), failure]);
  }

  /** Every call of `method` fails with this error until {@link recover} (a platform that is down). */
  failAll(method: string, failure: Failure): void {
    this.down.set(method, failure);
  }

  /** Calls of `method` succeed again. */
  recover(method: string): void {
    this.down.delete(method);
  }

  /** The user blocks the bot: sends to their private chat get 403. */
  /** Makes `userId` someone who is not (or no longer) a member of the group `chatId`, as getChatMember says. */
  leave(chatId: number, userId: number): void {
    this.left.add(`${chatId}:${userId}`);
  }

  block(userId: number): void {
    this.blocked.add(userId);
  }

  callsOf(method: string): ApiCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Messages the bot sent to one chat, in order. */
  sentTo(chatId: number): SentMessage[] {
    return this.sent.filter((m) => m.chatId === chatId);
  }

  lastTo(chatId: number): SentMessage {
    const all = this.sentTo(chatId);
    if (!all.length) throw new Error(`the bot sent nothing to chat ${chatId}`);
    return all[all.length - 1]!;
  }

  // ---- updates ------------------------------------------------------------------------------

  /** Queues updates for getUpdates (the same object twice delivers it twice). */
  push(...updates: TgUpdate[]): void {
    this.pending.push(...updates);
    this.notify();
  }

  /** Resolves once the bot has confirmed `updateId` (a getUpdates with a higher offset), i.e. handled it. */
  handled(updateId: number, timeoutMs = 10_000): Promise<void> {
    return this.until(() => this.confirmed > updateId, timeoutMs, `update ${updateId} to be handled`);
  }

  /** Resolves when `check` holds, re-checked on every API call. */
  until(check: () => boolean, timeoutMs = 10_000, what = 'a condition'): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const listener = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      this.listeners.add(listener);
    });
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  static privateChat(user: TgUser): TgChat {
    return { id: user.id, type: 'private', first_name: user.first_name, ...(user.username ? { username: user.username } : {}) };
  }

  /** A message update from `user` in `chat` (a private chat by default); "/cmd" gets its bot_command entity. */
  message(user: TgUser, text: string, opts: { chat?: TgChat; replyTo?: TgMessage } = {}): TgUpdate {
    const chat = opts.chat ?? FakeTelegram.privateChat(user);
    this.chats.set(chat.id, chat);
    const command = /^\/[\w@]+/.exec(text);
    const message: TgMessage = {
      message_id: ++this.nextMessage,
      from: user,
      chat,
      date: now(),
      text,
      ...(command ? { entities: [{ type: 'bot_command', offset: 0, length: command[0].length }] } : {}),
      ...(opts.replyTo ? { reply_to_message: opts.replyTo } : {}),
    };
    return { update_id: ++this.nextUpdate, message };
  }

  /** A tap by `user` on the button with `label` (or exactly this callback data) of a message the bot sent. */
  tap(user: TgUser, sent: SentMessage, label: string | RegExp): TgUpdate {
    const buttons = sent.message.reply_markup?.inline_keyboard.flat() ?? [];
    const button = buttons.find((b) => (typeof label === 'string' ? b.text === label || b.callback_data === label : label.test(b.text)));
    if (!button) throw new Error(`no button ${String(label)} on message ${sent.messageId}: ${buttons.map((b) => b.text).join(', ')}`);
    return {
      update_id: ++this.nextUpdate,
      callback_query: { id: String(9_000_000 + this.nextCallback++), from: user, message: sent.message, chat_instance: `ci${sent.chatId}`, data: button.callback_data },
    };
  }

  // ---- the API --------------------------------------------------------------------------------

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const match = /^\/bot([^/]+)\/(\w+)$/.exec(req.url ?? '');
    const body = await readBody(req);
    const reply = (status: number, json: unknown) => {
      if (res.writableEnded || res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    };
    const fail = (f: Failure) => reply(f.error_code, { ok: false, ...f });
    if (!match) return fail({ error_code: 404, description: 'Not Found' });
    if (match[1] !== this.token) return fail({ error_code: 401, description: 'Unauthorized' });
    const method = match[2]!;
    const payload = parsePayload(req.headers['content-type'] ?? '', body);
    if (method !== 'getUpdates') {
      this.calls.push({ method, payload });
    }
    try {
      if (this.latencyMs && method !== 'getUpdates') await new Promise((r) => setTimeout(r, this.latencyMs));
      const queued = this.failures.get(method);
      if (queued?.length) return fail(queued.shift()!);
      const down = this.down.get(method);
      if (down) return fail(down);
      let result: Awaited<ReturnType<FakeTelegram['call']>>;
      try {
        result = await this.call(method, payload, req);
      } catch (err) {
        this.problems.push(`${method}: ${(err as Error).message}`);
        return fail({ error_code: 400, description: `Bad Request: can't parse entities: ${(err as Error).message}` });
      }
      if ('failure' in result) return fail(result.failure);
      reply(200, { ok: true, result: result.ok });
    } finally {
      this.notify();
    }
  }

  private async call(method: string, p: Record<string, unknown>, req: IncomingMessage): Promise<{ ok: unknown } | { failure: Failure }> {
    const chatId = p.chat_id === undefined ? undefined : Number(p.chat_id);
    const chat = chatId === undefined ? undefined : this.chats.get(chatId);
    const needChat = (): { failure: Failure } | undefined => {
      if (!chat) return { failure: { error_code: 400, description: 'Bad Request: chat not found' } };
      if (chat.type === 'private' && this.blocked.has(chat.id)) return { failure: { error_code: 403, description: 'Forbidden: bot was blocked by the user' } };
      return undefined;
    };
    switch (method) {
      case 'getMe':
        return { ok: { ...this.bot, can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false, can_connect_to_business: false, has_main_web_app: false } };
      case 'deleteWebhook':
        this.webhook = undefined;
        return { ok: true };
      case 'setWebhook':
        this.webhook = { url: String(p.url), ...(p.secret_token ? { secret_token: String(p.secret_token) } : {}) };
        return { ok: true };
      case 'setMyCommands':
      case 'answerCallbackQuery':
        return { ok: true };
      case 'getChatMember': {
        const missing = needChat();
        if (missing) return missing;
        const userId = Number(p.user_id);
        const status = this.left.has(`${chatId}:${userId}`) ? 'left' : 'member';
        return { ok: { status, user: { id: userId, is_bot: false, first_name: String(userId) } } };
      }
      case 'getUpdates':
        return { ok: await this.getUpdates(p, req) };
      case 'sendMessage': {
        const bad = needChat();
        if (bad) return bad;
        const html = String(p.text ?? '');
        if (!html.trim()) return { failure: { error_code: 400, description: 'Bad Request: message text is empty' } };
        if (visibleText(html).length > 4096) return { failure: { error_code: 400, description: 'Bad Request: message is too long' } };
        checkHtml(html);
        const message: TgMessage = {
          message_id: ++this.nextMessage,
          from: this.bot,
          chat: chat!,
          date: now(),
          text: visibleText(html),
          ...(p.reply_markup ? { reply_markup: p.reply_markup as TgMessage['reply_markup'] } : {}),
        };
        this.sent.push({ chatId: chatId!, messageId: message.message_id, html, message, edits: 0 });
        return { ok: message };
      }
      case 'sendDocument': {
        const bad = needChat();
        if (bad) return bad;
        const message: TgMessage = { message_id: ++this.nextMessage, from: this.bot, chat: chat!, date: now() };
        const bytes = Buffer.isBuffer(p.document_bytes) ? p.document_bytes : Buffer.from(String(p.document ?? ''), 'utf8');
        const document = { filename: String(p.document_filename ?? ''), bytes, ...(p.caption ? { caption: String(p.caption) } : {}) };
        this.sent.push({ chatId: chatId!, messageId: message.message_id, html: String(p.document ?? ''), message, edits: 0, document });
        return { ok: { ...message, document: { file_id: 'f1', file_unique_id: 'u1', file_name: String(p.document_filename ?? '') } } };
      }
      case 'editMessageText': {
        const bad = needChat();
        if (bad) return bad;
        const target = this.sent.find((m) => m.chatId === chatId && m.messageId === Number(p.message_id));
        if (!target) return { failure: { error_code: 400, description: 'Bad Request: message to edit not found' } };
        const html = String(p.text ?? '');
        checkHtml(html);
        if (html === target.html && JSON.stringify(p.reply_markup ?? null) === JSON.stringify(target.message.reply_markup ?? null)) {
          return { failure: { error_code: 400, description: 'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message' } };
        }
        target.html = html;
        target.edits += 1;
        target.message = { ...target.message, text: visibleText(html), edit_date: now() };
        if (p.reply_markup) target.message.reply_markup = p.reply_markup as TgMessage['reply_markup'];
        else delete target.message.reply_markup;
        return { ok: target.message };
      }
      case 'editMessageReplyMarkup': {
        const bad = needChat();
        if (bad) return bad;
        const target = this.sent.find((m) => m.chatId === chatId && m.messageId === Number(p.message_id));
        if (!target) return { failure: { error_code: 400, description: 'Bad Request: message to edit not found' } };
        const markup = p.reply_markup as TgMessage['reply_markup'] | undefined;
        if (JSON.stringify(markup?.inline_keyboard.flat().length ? markup : null) === JSON.stringify(target.message.reply_markup ?? null)) {
          return { failure: { error_code: 400, description: 'Bad Request: message is not modified' } };
        }
        target.edits += 1;
        if (markup?.inline_keyboard.flat().length) target.message.reply_markup = markup;
        else delete target.message.reply_markup;
        return { ok: target.message };
      }
      default:
        return { failure: { error_code: 404, description: 'Not Found: method not found' } };
    }
  }

  private async getUpdates(p: Record<string, unknown>, req: IncomingMessage): Promise<TgUpdate[]> {
    const offset = Number(p.offset ?? 0);
    if (offset > this.confirmed) {
      this.confirmed = offset;
      this.notify();
    }
    // Telegram forgets updates once a later offset confirms them.
    this.pending = this.pending.filter((u) => u.update_id >= offset || offset === 0);
    const timeoutMs = Math.min(Number(p.timeout ?? 0), 2) * 1000;
    if (!this.pending.length && timeoutMs > 0) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.listeners.delete(listener);
          req.off('close', done);
          resolve();
        };
        const listener = () => this.pending.length && done();
        const timer = setTimeout(done, timeoutMs);
        this.listeners.add(listener);
        req.once('close', done);
      });
    }
    const limit = Number(p.limit ?? 100);
    // Delivered updates stay pending until a later offset confirms them, as on Telegram: a bot killed
    // before it confirmed gets them again from its next poll.
    return this.pending.slice(0, limit);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Parses a JSON or multipart/form-data body into the method's parameters. */
function parsePayload(contentType: string, body: Buffer): Record<string, unknown> {
  if (!body.length) return {};
  if (contentType.includes('application/json')) return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  if (!boundary) return {};
  const out: Record<string, unknown> = {};
  // Split as latin1 (one char a byte) so that binary file parts survive; text parts are decoded as UTF-8.
  for (const part of body.toString('latin1').split(`--${boundary[1] ?? boundary[2]}`)) {
    const head = /^\r\n([\s\S]*?)\r\n\r\n([\s\S]*)\r\n$/.exec(part);
    if (!head) continue;
    const name = /name="([^"]+)"/.exec(head[1]!)?.[1];
    const filename = /filename=(?:"([^"]*)"|([^;\r\n]*))/.exec(head[1]!)?.slice(1).find((x) => x !== undefined);
    if (!name) continue;
    const bytes = Buffer.from(head[2]!, 'latin1');
    const value = bytes.toString('utf8');
    if (filename !== undefined) {
      out[`${name}_filename`] = Buffer.from(filename, 'latin1').toString('utf8');
      out[`${name}_bytes`] = bytes;
      out[name] = value;
    } else {
      out[name] = /^[[{]/.test(value) ? safeJson(value) : value;
    }
  }
  // grammY names the file part with a random id and refers to it as attach://<id>.
  for (const [k, v] of Object.entries(out)) {
    if (typeof v === 'string' && v.startsWith('attach://')) {
      const id = v.slice('attach://'.length);
      out[k] = out[id];
      out[`${k}_filename`] = out[`${id}_filename`];
      out[`${k}_bytes`] = out[`${id}_bytes`];
    }
  }
  return out;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/** Telegram refuses HTML with unknown or unbalanced tags; so does the fake. */
function checkHtml(html: string): void {
  const stack: string[] = [];
  for (const m of html.matchAll(/<(\/?)([a-z]+)[^>]*>/g)) {
    const [, closing, tag] = m;
    if (!['b', 'i', 'a', 'pre', 'code', 'u', 's'].includes(tag!)) throw new Error(`unsupported tag <${tag}> in ${html}`);
    if (!closing) stack.push(tag!);
    else if (stack.pop() !== tag) throw new Error(`unbalanced </${tag}> in ${html}`);
  }
  if (stack.length) throw new Error(`unclosed <${stack.join('>, <')}> in ${html}`);
  if (/&(?!amp;|lt;|gt;|quot;)/.test(html)) throw new Error(`unescaped & in ${html}`);
}
