/**
 * A local fake of the Bot Connector API (the service Teams bots reply through), on 127.0.0.1 with
 * a random port: records replies, updates and proactive sends, and can fail the next calls with
 * chosen statuses (429 with Retry-After, 412, 502, 504, 403...).
 */
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ConnectorCall {
  kind: 'reply' | 'send' | 'update' | 'create';
  conversationId: string;
  /** The activity replied to (reply) or updated (update). */
  activityId?: string;
  /** The id the fake gave the activity. */
  id: string;
  body: Record<string, unknown>;
}

export interface FakeFailure {
  status: number;
  retryAfter?: string;
}

export class FakeConnector {
  readonly calls: ConnectorCall[] = [];
  /** Every request, failed ones included, in order. */
  readonly attempts: { kind: ConnectorCall['kind']; status: number }[] = [];
  private failures: FakeFailure[] = [];
  private server?: Server;
  private seq = 0;
  url = '';

  /** Makes the next calls fail, one status each. */
  failNext(...failures: FakeFailure[]): void {
    this.failures.push(...failures);
  }

  async start(): Promise<void> {
    const app = express();
    app.use(express.json({ limit: '5mb' }));
    const handle = (kind: ConnectorCall['kind']) => (req: express.Request, res: express.Response) => {
      const failure = this.failures.shift();
      if (failure) {
        this.attempts.push({ kind, status: failure.status });
        if (failure.retryAfter) res.setHeader('Retry-After', failure.retryAfter);
        res.status(failure.status).json({ error: { code: 'Failure', message: `fake ${failure.status}` } });
        return;
      }
      this.attempts.push({ kind, status: 200 });
      const params = req.params as Record<string, string>;
      const id = kind === 'update' ? params.activityId! : `act-${++this.seq}`;
      this.calls.push({
        kind,
        conversationId: params.conversationId ?? '',
        ...(params.activityId ? { activityId: params.activityId } : {}),
        id,
        body: req.body as Record<string, unknown>,
      });
      res.status(kind === 'create' ? 201 : 200).json(kind === 'create' ? { id: `conv-${this.seq}` } : { id });
    };
    app.post('/v3/conversations', handle('create'));
    app.post('/v3/conversations/:conversationId/activities/:activityId', handle('reply'));
    app.post('/v3/conversations/:conversationId/activities', handle('send'));
    app.put('/v3/conversations/:conversationId/activities/:activityId', handle('update'));
    await new Promise<void>((resolve) => {
      this.server = app.listen(0, '127.0.0.1', () => resolve());
    });
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Calls recorded since `from` (an index into {@link calls}). */
  since(from: number): ConnectorCall[] {
    return this.calls.slice(from);
  }
}

/** The Adaptive Card of a recorded activity, if it has one. */
export function cardOf(body: Record<string, unknown>): { body: Record<string, unknown>[]; actions?: { title: string; data: { d: string } }[]; fallbackText: string } | undefined {
  const attachments = body.attachments as { contentType: string; content: never }[] | undefined;
  return attachments?.find((a) => a.contentType === 'application/vnd.microsoft.card.adaptive')?.content;
}

/** Every visible string of a recorded activity (text, card text blocks, runs, facts), joined. */
export function textOf(body: Record<string, unknown>): string {
  const out: string[] = [];
  if (typeof body.text === 'string') out.push(body.text);
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if ((o.type === 'TextBlock' || o.type === 'TextRun') && typeof o.text === 'string') out.push(o.text);
      if (typeof o.title === 'string' && typeof o.value === 'string') out.push(`${o.title} ${o.value}`);
      for (const [k, child] of Object.entries(o)) if (k !== 'actions' && typeof child === 'object') walk(child);
    }
  };
  walk(cardOf(body)?.body);
  return out.join('\n');
}
