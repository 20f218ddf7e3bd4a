/**
 * A local fake of Slack's Socket Mode on 127.0.0.1 with a random port, for the real SDK
 * (`@slack/socket-mode`, under Bolt) to connect to. It attaches itself to the Web API fake, whose
 * `apps.connections.open` then hands out a one-time URL `ws://127.0.0.1:<port>/link/?ticket=...&app_id=...`.
 *
 * As Slack documents Socket Mode (and as the SDK's client expects):
 * - on connection, a `hello` message (`num_connections`, `debug_info`, `connection_info`);
 * - envelopes `{ envelope_id, type, payload, accepts_response_payload, retry_attempt, retry_reason }`
 *   of type `events_api`, `interactive` or `slash_commands`, sent on the newest open connection, or
 *   kept until one is open;
 * - acknowledgements `{ envelope_id, payload? }`, recorded with their time and connection;
 * - an `events_api` envelope not acknowledged within the deadline (Slack: 3 s) is sent again with
 *   `retry_attempt` one higher and `retry_reason: 'timeout'`, at most 3 times; interactive and
 *   slash-command envelopes are not (Slack shows the user an error instead);
 * - `disconnect` messages (`refresh_requested`, `warning`, `link_disabled`): no more envelopes go to
 *   that connection, and Slack closes it if the app has not after a while (10 s after a warning);
 *   the app then opens a new connection with a new URL;
 * - pings from the client are answered with pongs (the SDK drops a connection that does not).
 *
 * Every change (a connection, a delivery, an acknowledgement, a close) is announced, so tests wait
 * for what they expect with {@link FakeSlackSocket.until} instead of sleeping.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { waitFor, type FakeSlackApi } from './slack-api.js';

export type EnvelopeType = 'events_api' | 'interactive' | 'slash_commands';

/** One envelope the fake sent, with its deliveries. */
export interface FakeEnvelope {
  envelopeId: string;
  type: EnvelopeType;
  payload: Record<string, unknown>;
  acceptsResponsePayload: boolean;
  /** Each time it went out: on which connection, with which `retry_attempt`, when. */
  deliveries: { connection: number; attempt: number; at: number }[];
  /** `waiting`: not yet sent, or due again and no connection open; `expired`: never acknowledged, no more retries. */
  status: 'waiting' | 'sent' | 'acked' | 'expired';
  /** The `retry_attempt` of its next delivery. */
  nextAttempt: number;
  timer?: NodeJS.Timeout;
}

/** An acknowledgement the app sent. */
export interface FakeAck {
  envelopeId: string;
  payload?: Record<string, unknown>;
  at: number;
  connection: number;
}

/** One WebSocket connection from the app. */
export interface FakeConnection {
  id: number;
  openedAt: number;
  /** After a `disconnect` message: no more envelopes go to it. */
  draining: boolean;
  closedAt?: number;
  closeCode?: number;
  socket: WebSocket;
}

export interface FakeSlackSocketOptions {
  /** Milliseconds an envelope waits for its acknowledgement before it is sent again (Slack: 3000). */
  ackDeadlineMs?: number;
  /** How many times an unacknowledged `events_api` envelope is sent again (Slack: 3). */
  maxRetries?: number;
  /** The app's id, in `connection_info` and the URL. */
  appId?: string;
}

export class FakeSlackSocket extends EventEmitter {
  readonly envelopes: FakeEnvelope[] = [];
  readonly acks: FakeAck[] = [];
  readonly connections: FakeConnection[] = [];
  /** Messages from the app that are not an acknowledgement of a known envelope. */
  readonly strayMessages: string[] = [];
  /** `apps.connections.open` tickets handed out and not yet used. */
  private readonly tickets = new Set<string>();
  /** Connection attempts refused (an unknown or used ticket). */
  refusedUpgrades = 0;
  private readonly ackDeadlineMs: number;
  private readonly maxRetries: number;
  private readonly appId: string;
  private server?: Server;
  private wss?: WebSocketServer;
  private readonly closeTimers = new Set<NodeJS.Timeout>();
  url = '';

  constructor(
    private readonly api: FakeSlackApi,
    opts: FakeSlackSocketOptions = {},
  ) {
    super();
    this.setMaxListeners(100);
    this.ackDeadlineMs = opts.ackDeadlineMs ?? 3000;
    this.maxRetries = opts.maxRetries ?? 3;
    this.appId = opts.appId ?? 'A0001';
  }

  async start(): Promise<void> {
    this.wss = new WebSocketServer({ noServer: true });
    this.server = createServer((_req, res) => {
      res.writeHead(426).end();
    });
    this.server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const ticket = url.searchParams.get('ticket') ?? '';
      // A ticket is good for one connection, as Slack's are.
      if (url.pathname !== '/link/' || !this.tickets.delete(ticket)) {
        this.refusedUpgrades += 1;
        socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
        return;
      }
      this.wss!.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.url = `ws://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.api.socketUrl = () => {
      const ticket = randomUUID();
      this.tickets.add(ticket);
      return `${this.url}/link/?ticket=${ticket}&app_id=${this.appId}`;
    };
  }

  private onConnection(socket: WebSocket): void {
    const conn: FakeConnection = { id: this.connections.length + 1, openedAt: Date.now(), draining: false, socket };
    this.connections.push(conn);
    socket.on('message', (data, isBinary) => this.onMessage(conn, isBinary ? '' : data.toString()));
    socket.on('close', (code) => {
      conn.closedAt = Date.now();
      conn.closeCode = code;
      this.emit('change', 'close');
    });
    socket.send(
      JSON.stringify({
        type: 'hello',
        num_connections: this.open().length,
        debug_info: { host: `applink-fake-${conn.id}`, build_number: 1, approximate_connection_time: 18060 },
        connection_info: { app_id: this.appId },
      }),
    );
    this.emit('change', 'connection');
    this.flush();
  }

  private onMessage(conn: FakeConnection, text: string): void {
    let msg: { envelope_id?: unknown; payload?: unknown };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      this.strayMessages.push(text);
      this.emit('change', 'stray');
      return;
    }
    const envelope = this.envelopes.find((e) => e.envelopeId === msg.envelope_id);
    if (!envelope) {
      this.strayMessages.push(text);
      this.emit('change', 'stray');
      return;
    }
    const payload = msg.payload && typeof msg.payload === 'object' && Object.keys(msg.payload).length ? (msg.payload as Record<string, unknown>) : undefined;
    this.acks.push({ envelopeId: envelope.envelopeId, ...(payload ? { payload } : {}), at: Date.now(), connection: conn.id });
    if (envelope.status !== 'acked') {
      envelope.status = 'acked';
      clearTimeout(envelope.timer);
    }
    this.emit('change', 'ack');
  }

  /** The open connections, oldest first. */
  open(): FakeConnection[] {
    return this.connections.filter((c) => c.socket.readyState === WebSocket.OPEN);
  }

  /** Sends an envelope (now, or when a connection is open); returns it. */
  send(type: EnvelopeType, payload: Record<string, unknown>, opts: { acceptsResponsePayload?: boolean } = {}): FakeEnvelope {
    const envelope: FakeEnvelope = {
      envelopeId: randomUUID(),
      type,
      payload,
      acceptsResponsePayload: opts.acceptsResponsePayload ?? type === 'slash_commands',
      deliveries: [],
      status: 'waiting',
      nextAttempt: 0,
    };
    this.envelopes.push(envelope);
    this.flush();
    return envelope;
  }

  /** An Events API callback (`event_callback` payload). */
  event(payload: Record<string, unknown>): FakeEnvelope {
    return this.send('events_api', payload);
  }

  /** An interaction (`block_actions` and the like). */
  interactive(payload: Record<string, unknown>): FakeEnvelope {
    return this.send('interactive', payload);
  }

  /** A slash command (its fields as an object). */
  slashCommand(payload: Record<string, unknown>): FakeEnvelope {
    return this.send('slash_commands', payload);
  }

  /** Sends what is waiting on the newest connection that is open and not draining. */
  private flush(): void {
    const target = this.open().filter((c) => !c.draining).at(-1);
    if (!target) return;
    for (const envelope of this.envelopes) if (envelope.status === 'waiting') this.deliver(envelope, target);
  }

  private deliver(envelope: FakeEnvelope, conn: FakeConnection): void {
    const attempt = envelope.nextAttempt;
    conn.socket.send(
      JSON.stringify({
        envelope_id: envelope.envelopeId,
        payload: envelope.payload,
        type: envelope.type,
        accepts_response_payload: envelope.acceptsResponsePayload,
        ...(envelope.type === 'events_api' ? { retry_attempt: attempt, retry_reason: attempt ? 'timeout' : '' } : {}),
      }),
    );
    envelope.status = 'sent';
    envelope.deliveries.push({ connection: conn.id, attempt, at: Date.now() });
    envelope.timer = setTimeout(() => this.onDeadline(envelope), this.ackDeadlineMs);
    this.emit('change', 'delivery');
  }

  private onDeadline(envelope: FakeEnvelope): void {
    if (envelope.status !== 'sent') return;
    if (envelope.type !== 'events_api' || envelope.nextAttempt >= this.maxRetries) {
      envelope.status = 'expired';
      this.emit('change', 'expired');
      return;
    }
    envelope.nextAttempt += 1;
    envelope.status = 'waiting';
    this.flush();
  }

  /**
   * Sends a `disconnect` message on a connection (default the newest open one) and sends it nothing
   * more; closes it after `closeAfterMs` if the app has not.
   */
  disconnect(reason: 'refresh_requested' | 'warning' | 'link_disabled', opts: { connection?: FakeConnection; closeAfterMs?: number } = {}): FakeConnection {
    const conn = opts.connection ?? this.open().at(-1);
    if (!conn) throw new Error('no open connection to disconnect');
    conn.draining = true;
    conn.socket.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: `applink-fake-${conn.id}` } }));
    const timer = setTimeout(() => {
      this.closeTimers.delete(timer);
      if (conn.socket.readyState === WebSocket.OPEN) conn.socket.close(1001, 'going away');
    }, opts.closeAfterMs ?? (reason === 'warning' ? 10_000 : 1_000));
    this.closeTimers.add(timer);
    return conn;
  }

  /** Drops a connection (default the newest open one) without a close handshake, as a network failure does. */
  drop(connection?: FakeConnection): void {
    const conn = connection ?? this.open().at(-1);
    if (!conn) throw new Error('no open connection to drop');
    conn.socket.terminate();
  }

  /** The acknowledgements of one envelope. */
  acksOf(envelope: FakeEnvelope): FakeAck[] {
    return this.acks.filter((a) => a.envelopeId === envelope.envelopeId);
  }

  /** Resolves with `check()`'s value once it is truthy, checking again on every change; rejects after `timeoutMs`. */
  until<T>(what: string, check: () => T | undefined | false | null, timeoutMs = 5000): Promise<T> {
    return waitFor(this, what, check, timeoutMs);
  }

  /** Waits for an envelope's first acknowledgement. */
  acked(envelope: FakeEnvelope, timeoutMs = 5000): Promise<FakeAck> {
    return this.until(`the acknowledgement of a ${envelope.type} envelope`, () => this.acksOf(envelope)[0], timeoutMs);
  }

  /** Waits until `count` connections have been opened (and got their hello). */
  connected(count: number, timeoutMs = 5000): Promise<FakeConnection> {
    return this.until(`connection ${count}`, () => (this.connections.length >= count ? this.connections[count - 1] : undefined), timeoutMs);
  }

  async stop(): Promise<void> {
    for (const e of this.envelopes) clearTimeout(e.timer);
    for (const t of this.closeTimers) clearTimeout(t);
    for (const c of this.connections) c.socket.terminate();
    if (this.api.socketUrl) delete this.api.socketUrl;
    await new Promise<void>((resolve) => (this.wss ? this.wss.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
