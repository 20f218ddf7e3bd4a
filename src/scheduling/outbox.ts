/**
 * The outbox sender: sends what the bot owes (rows written with the state changes that produced
 * them) through each channel's delivery, oldest first and one at a time per conversation, so that
 * replies keep their order. A row is claimed before it is sent (one sender wins across processes),
 * marked done once the platform accepted it, retried with backoff on a retryable failure (the
 * conversation waits behind it), and dropped (reported once) when the platform refuses it for good.
 * A crash between the send and the mark sends that one row again after the claim lapses: a reply is
 * delayed, never lost.
 *
 * Nudges are rows too (written with the state that records them, see `LearningBot.nudge`): they are
 * paced to each platform's global limit by `pacer` before they are claimed, so that a 09:00 burst of
 * thousands of reminders leaves at the platform's rate (shared by every process with the Redis
 * pacer), and a platform's refusal for good goes to `onRefused` (a learner who cannot be reached is
 * marked so by the runtime).
 */
import { PlatformError } from '../errors.js';
import type { Channel } from '../messages.js';
import type { ErrorSink } from '../runtime/bot.js';
import { decodeOutbox, type OutboxPayload, type ReplyTarget } from '../runtime/durable.js';
import { DELIVERY_RATE } from './limits.js';
import { SteadyPacer, type Pacer } from './pacer.js';
import type { Address, Outbound } from '../messages.js';
import type { OutboxRow, Store } from '../store/store.js';
import { PassRunner } from './passes.js';

/** How a channel sends an outbox row: its `deliver` (with the reply target) or its proactive `send`. */
export interface OutboxChannel {
  send(address: Address, messages: Outbound[]): Promise<unknown>;
  deliver?(address: Address, messages: Outbound[], target?: ReplyTarget): Promise<void>;
}

export interface OutboxSenderOptions {
  store: Store;
  channel: (c: Channel) => OutboxChannel | undefined;
  onError: ErrorSink;
  now: () => Date;
  /**
   * How long a claim holds before another sender may take the row (default 5 s). The sender renews
   * it while it is still sending (a long retry-after), so a short lease only means that a row a
   * crashed process had claimed is taken over within seconds.
   */
  leaseMs?: number;
  pollMs?: number;
  /** First backoff after a retryable failure, doubled per attempt up to 10 minutes (default 2 s). */
  retryMs?: number;
  /** Called after a row is sent (metrics, tests). */
  onSent?: (row: OutboxRow) => void;
  /**
   * Paces proactive rows (nudges, see `OutboxInsert.proactive`) to each platform's global limit,
   * across processes when it is the Redis pacer; a 429 pushes the channel's next slot back. Replies
   * are not paced here: each channel's delivery paces them (Telegram overall and per chat, Slack and
   * Teams per conversation). None: proactive rows go out as fast as the channel's delivery allows.
   */
  pacer?: Pacer;
  /**
   * Called when the platform refused a row for good, before the row is dropped: the runtime marks a
   * learner who cannot be reached (see `LearningBot.nudgeRefused`). If it throws, the error is
   * reported and the row is kept for a retry, so that the refusal is not forgotten.
   */
  onRefused?: (row: OutboxRow, payload: OutboxPayload, err: unknown) => Promise<void>;
}

/** A row's payload, or undefined when it cannot be read (the send then reports it and drops the row). */
function readable(payload: string): OutboxPayload | undefined {
  try {
    return decodeOutbox(payload);
  } catch {
    return undefined;
  }
}

/** Whether an outbox row holds only notices answering one member's tap in a group (nothing posted in the conversation). */
export function personalOnly(payload: string): boolean {
  const { address, messages, target } = decodeOutbox(payload);
  return address.kind === 'group' && !!target && messages.length > 0 && messages.every((m) => m.kind === 'notice');
}

export class OutboxSender {
  /** Rows this process is sending: a later pass never takes them again, even once their claim has lapsed. */
  private readonly sending = new Set<number>();
  private readonly passes: PassRunner;
  /** The pacer, kept steady in this process (see {@link SteadyPacer}). */
  private readonly pacer: Pacer | undefined;

  constructor(private readonly opts: OutboxSenderOptions) {
    this.passes = new PassRunner(() => this.pass(), (err) => opts.onError(err, { where: 'outbox-pass' }));
    this.pacer = opts.pacer ? new SteadyPacer(opts.pacer) : undefined;
  }

  start(): void {
    this.passes.start(this.opts.pollMs ?? 1000);
  }

  /** Reads the outbox now (a reply was written). */
  kick(): void {
    this.passes.kick();
  }

  private async pass(): Promise<void> {
    const { store } = this.opts;
    const now = this.opts.now();
    // Proactive rows leave at most a second's worth per platform and pass: a few seconds' worth read
    // is plenty, and reading (and decoding) thousands every pass would stall the loop that paces them.
    const rows = await store.outboxDue(now, 500, 4 * Math.max(...Object.values(DELIVERY_RATE).map((r) => r.max)));
    const conversations = new Map<string, OutboxRow[]>();
    for (const row of rows) {
      // A reply that is only notices to the member who tapped (a toast, an ephemeral note) has no
      // place in the conversation's order: it goes on its own, so that a thousand members tapping in
      // one group are acknowledged side by side, not one after the other behind each other.
      const key = !row.proactive && personalOnly(row.payload) ? `${row.channel}|${row.conversationId}|${row.id}` : `${row.channel}|${row.conversationId}`;
      conversations.set(key, [...(conversations.get(key) ?? []), row]);
    }
    // A pass starts at most one second's worth of each platform's proactive rows (nudges): the pass
    // (and with it the replies written meanwhile, and a shutdown) never waits long behind a burst of
    // thousands. What is left runs in the next pass, at once.
    const started = new Map<Channel, number>();
    let left = false;
    const queues = [...conversations.values()].filter((queue) => {
      const head = queue[0]!;
      if (!this.pacer || head.availableAt > now || this.sending.has(head.id) || !head.proactive) return true;
      const n = started.get(head.channel) ?? 0;
      if (n >= DELIVERY_RATE[head.channel].max) return !(left = true);
      started.set(head.channel, n + 1);
      return true;
    });
    await Promise.all(queues.map((queue) => this.sendQueue(queue)));
    if (left) this.passes.kick();
  }

  /** Sends one conversation's rows in order; stops at the first that is not free or fails. */
  private async sendQueue(queue: OutboxRow[]): Promise<void> {
    const { store } = this.opts;
    for (const row of queue) {
      if (this.passes.stopped) return;
      const now = this.opts.now();
      if (row.availableAt > now || this.sending.has(row.id)) return;
      const leaseMs = this.opts.leaseMs ?? 5_000;
      const payload = readable(row.payload);
      // A message the bot sends on its own initiative (a nudge) is paced to the platform's global rate.
      const paced = row.proactive ? this.pacer : undefined;
      this.sending.add(row.id);
      // The platform's slot first, then the claim and at once the send: a row waiting for its slot
      // holds no lease and costs no write (a pass that claimed a second's worth of rows at once
      // would stall the loop that keeps the sends evenly spaced), and between the slot and the
      // platform there is only the claim; another process that takes the row meanwhile waited for
      // a slot of its own (the Redis pacer shares them).
      if (paced) {
        try {
          await paced.wait(row.channel);
        } catch (err) {
          this.sending.delete(row.id);
          throw err;
        }
      }
      let claimedUntil = new Date(this.opts.now().getTime() + leaseMs);
      if (this.passes.stopped || !(await store.outboxClaim(row, claimedUntil))) {
        this.sending.delete(row.id);
        return;
      }
      // Renew the claim while the send is in progress.
      const renew = setInterval(() => {
        const until = new Date(this.opts.now().getTime() + leaseMs);
        void store
          .outboxClaim({ ...row, availableAt: claimedUntil }, until)
          .then((ok) => {
            if (ok) claimedUntil = until;
          })
          .catch((err: unknown) => this.opts.onError(err, { where: 'outbox-renew', channel: row.channel }));
      }, Math.max(50, Math.floor(leaseMs / 3)));
      const channel = this.opts.channel(row.channel);
      try {
        if (!channel) throw new Error(`no ${row.channel} channel is running to send the outbox to`);
        const { address, messages, target } = payload ?? decodeOutbox(row.payload);
        // A reply answers in place where its target says how; a proactive row is a message of the bot's own (its `send`).
        if (channel.deliver && !row.proactive) await channel.deliver(address, messages, target);
        else await channel.send(address, messages);
        clearInterval(renew);
        await store.outboxDone(row.id, this.opts.now());
        this.sending.delete(row.id);
        this.opts.onSent?.(row);
      } catch (err) {
        clearInterval(renew);
        this.sending.delete(row.id);
        const retryable = !(err instanceof PlatformError) || err.retryable;
        this.opts.onError(err, { where: 'outbox-send', channel: row.channel, retryable, attempts: row.attempts + 1 });
        if (paced && err instanceof PlatformError && err.status === 429) await paced.pause(row.channel, (err.retryAfterSec ?? 1) * 1000);
        if (!retryable) {
          try {
            if (payload) await this.opts.onRefused?.(row, payload, err);
          } catch (e) {
            this.opts.onError(e, { where: 'outbox-refused', channel: row.channel });
            await store.outboxRetry(row.id, new Date(this.opts.now().getTime() + (this.opts.retryMs ?? 2000) * 2 ** row.attempts));
            return;
          }
          await store.outboxDone(row.id, this.opts.now());
          continue;
        }
        const wait = Math.max(Math.min(600_000, (this.opts.retryMs ?? 2000) * 2 ** row.attempts), err instanceof PlatformError ? (err.retryAfterSec ?? 0) * 1000 : 0);
        await store.outboxRetry(row.id, new Date(this.opts.now().getTime() + wait));
        return;
      }
    }
  }

  /** Waits for the pass in progress (tests, shutdown). */
  async idle(): Promise<void> {
    await this.passes.settled();
  }

  async stop(): Promise<void> {
    await this.passes.stop();
  }
}
