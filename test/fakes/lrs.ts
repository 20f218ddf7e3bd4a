/**
 * A local fake of a Learning Record Store's statement resource (xAPI 1.0.3, `POST /xapi/statements`
 * with one statement or an array), on 127.0.0.1. It checks what an LRS checks at the door (basic
 * auth, the `X-Experience-API-Version` header, JSON), keeps one statement per id as an LRS does (the
 * same id again with the same content is accepted and not stored twice; with other content, 409),
 * and counts every id received, so that tests can tell "stored once" from "sent once".
 */
import express from 'express';
import type { Server } from 'node:http';
import { isDeepStrictEqual } from 'node:util';

export class FakeLrs {
  /** Statements stored, by id, in arrival order. */
  readonly statements = new Map<string, Record<string, unknown>>();
  /** How many times each id was received in an accepted request. */
  readonly received = new Map<string, number>();
  /** Requests refused on purpose (see goDown) or for a bad header. */
  refusals = 0;
  private down: number | undefined;
  private server?: Server;
  url = '';

  constructor(
    readonly username = 'lrs-key',
    readonly password = 'lrs-secret',
  ) {}

  /** Every post is answered with `status` until {@link recover} (the LRS is down). */
  goDown(status = 503): void {
    this.down = status;
  }

  /** The LRS is back. */
  recover(): void {
    this.down = undefined;
  }

  get endpoint(): string {
    return `${this.url}/xapi/`;
  }

  async start(): Promise<void> {
    const app = express();
    app.use(express.json({ limit: '5mb' }));
    app.post('/xapi/statements', (req, res) => {
      const expected = `Basic ${Buffer.from(`${this.username}:${this.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return void res.status(401).json({ error: 'unauthorised' });
      if (req.headers['x-experience-api-version'] !== '1.0.3') return void (this.refusals++, res.status(400).json({ error: 'X-Experience-API-Version 1.0.3 required' }));
      const failure = this.down;
      if (failure) return void (this.refusals++, res.status(failure).json({ error: 'failing on purpose' }));
      const batch = (Array.isArray(req.body) ? req.body : [req.body]) as Record<string, unknown>[];
      for (const s of batch) {
        const id = s.id;
        if (typeof id !== 'string') return void res.status(400).json({ error: 'statement without an id' });
        const known = this.statements.get(id);
        if (known && !isDeepStrictEqual(known, s)) return void res.status(409).json({ error: `statement ${id} exists with other content` });
      }
      for (const s of batch) {
        const id = s.id as string;
        this.received.set(id, (this.received.get(id) ?? 0) + 1);
        if (!this.statements.has(id)) this.statements.set(id, s);
      }
      res.json(batch.map((s) => s.id));
    });
    await new Promise<void>((resolve) => {
      this.server = app.listen(0, '127.0.0.1', () => resolve());
    });
    this.url = `http://127.0.0.1:${(this.server!.address() as { port: number }).port}`;
  }

  /** Resolves once at least `n` statements are stored (polling, within `timeoutMs`). */
  async waitFor(n: number, timeoutMs = 5000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.statements.size < n) {
      if (Date.now() > until) throw new Error(`the fake LRS has ${this.statements.size} statements, expected ${n}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
