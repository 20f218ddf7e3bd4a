/**
 * Sends the xAPI outbox to the Learning Record Store through `@xapi/xapi`: claims due statements
 * with a lease, posts them in one batch, marks them sent once the LRS accepted them. A failed post
 * leaves them leased: they are sent again when the lease ends, so a statement is never lost, and
 * the LRS, which keeps one statement per id, never stores one twice. Runs beside the learners,
 * never in their way: nothing a learner does waits for the LRS.
 */
import xapiModule from '@xapi/xapi';
import type { Store, XapiRow } from '../store/store.js';
import { XAPI_VERSION } from './statements.js';

export interface XapiSenderOptions {
  store: Store;
  endpoint: string;
  username: string;
  password: string;
  now: () => Date;
  onError: (err: unknown, context: Record<string, unknown>) => void;
  /** How often to look for statements, in ms (default 5 s). */
  intervalMs?: number;
  /** Statements per post (default 50). */
  batchSize?: number;
  /** How long a claimed statement waits before it is tried again, in ms (default 60 s). */
  leaseMs?: number;
}

// A CommonJS package: under Node's ESM the class is the module itself, and also its `default`.
const XAPI = xapiModule.default;
type XapiClient = InstanceType<typeof XAPI>;

/** An LRS answer that retrying will not change (a statement it refuses as invalid). */
function refused(err: unknown): number | undefined {
  const status = (err as { response?: { status?: number } }).response?.status;
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429 ? status : undefined;
}

export class XapiSender {
  private readonly client: XapiClient;
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;
  private failing = false;

  constructor(private readonly opts: XapiSenderOptions) {
    this.client = new XAPI({ endpoint: opts.endpoint, auth: XAPI.toBasicAuth(opts.username, opts.password), version: XAPI_VERSION });
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs ?? 5000);
    this.timer.unref();
    void this.tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Sends what is due now; returns how many statements the LRS accepted. Never throws. */
  tick(): Promise<number> {
    this.running ??= this.sendDue().finally(() => (this.running = undefined));
    return this.running;
  }

  private async sendDue(): Promise<number> {
    let sent = 0;
    try {
      for (;;) {
        const now = this.opts.now();
        const rows = await this.opts.store.claimXapi(now, this.opts.batchSize ?? 50, new Date(now.getTime() + (this.opts.leaseMs ?? 60_000)));
        if (!rows.length) break;
        sent += await this.post(rows);
        if (this.failing) break;
      }
    } catch (err) {
      this.opts.onError(err, { where: 'xapi-outbox' });
    }
    return sent;
  }

  private async post(rows: XapiRow[]): Promise<number> {
    try {
      await this.client.sendStatements({ statements: rows.map((r) => JSON.parse(r.statement)) });
      await this.opts.store.markXapiSent(rows.map((r) => r.id), this.opts.now());
      if (this.failing) this.opts.onError(new Error('the Learning Record Store accepts statements again'), { where: 'xapi-send', recovered: true });
      this.failing = false;
      return rows.length;
    } catch (err) {
      const status = refused(err);
      if (status !== undefined && rows.length > 1) {
        // One bad statement must not hold the others back: try them one at a time.
        let sent = 0;
        for (const row of rows) sent += await this.post([row]);
        return sent;
      }
      if (status !== undefined) {
        // Refused for good (it will not become valid): recorded once and not sent again.
        this.opts.onError(Object.assign(new Error(`the Learning Record Store refused statement ${rows[0]!.id} with ${status}`), { status }), { where: 'xapi-send', statement: rows[0]!.id });
        await this.opts.store.markXapiSent([rows[0]!.id], this.opts.now());
        return 0;
      }
      // Unreachable, 5xx, 429: reported once per outage; the leases bring the statements back.
      if (!this.failing) this.opts.onError(err, { where: 'xapi-send', pending: rows.length });
      this.failing = true;
      return 0;
    }
  }
}
