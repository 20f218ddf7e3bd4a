/**
 * Paces the calls a platform's per-chat limits count (Telegram's), in this process, without a timer per chat: each call
 * reserves its start time (the next free one in its chat and overall) and waits for it with one
 * timeout, only when it has to wait. Calls in one chat go one at a time, in order.
 *
 * It replaced `@grammyjs/transformer-throttler`, whose Bottleneck limiters (one per chat, each with
 * its own refill timer and job queue) cost about 2.5 ms of CPU per update, more than the rest of the
 * bot's work on Telegram (see BENCHMARKS.md). The settings keep Bottleneck's names and meaning:
 * - `minTime`: at least this many ms between two starts in the scope;
 * - `reservoir` with `reservoirRefreshInterval`: at most `reservoir` starts in any such interval
 *   (a sliding window, stricter than Bottleneck's fixed refresh);
 * - `reservoirIncreaseAmount` every `reservoirIncreaseInterval` up to `reservoirIncreaseMaximum`: a
 *   token bucket that starts full (`reservoir`), for short bursts in private chats.
 * Scopes: `global` (every paced call), `group` (per group chat: a negative chat id) and `out` (per
 * private chat).
 */

export interface PaceScope {
  minTime?: number;
  /** Calls in one chat run one at a time whatever this says (replies must keep their order). */
  maxConcurrent?: number | null;
  reservoir?: number | null;
  reservoirRefreshAmount?: number | null;
  reservoirRefreshInterval?: number | null;
  reservoirIncreaseAmount?: number | null;
  reservoirIncreaseInterval?: number | null;
  reservoirIncreaseMaximum?: number | null;
}

export interface PacingOptions {
  global?: PaceScope;
  group?: PaceScope;
  out?: PaceScope;
}

/** The clock pacing waits on (milliseconds, monotonic). */
export interface PaceClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const REAL_CLOCK: PaceClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** The reservations of one scope: the earliest start allowed next, recent starts, tokens. */
export class Pace {
  private next = 0;
  private readonly starts: number[] = [];
  private tokens: number;
  private at = 0;
  /** The last start reserved. */
  last = -Infinity;

  constructor(private readonly scope: PaceScope) {
    this.tokens = scope.reservoir ?? scope.reservoirIncreaseMaximum ?? 0;
  }

  /** Reserves the first start at or after `t` that keeps the scope's limits, and returns it. */
  reserve(t: number): number {
    const s = this.scope;
    let start = Math.max(t, this.next);
    if (s.reservoir && s.reservoirRefreshInterval) {
      if (this.starts.length >= s.reservoir) start = Math.max(start, this.starts[this.starts.length - s.reservoir]! + s.reservoirRefreshInterval);
      this.starts.push(start);
      if (this.starts.length > s.reservoir) this.starts.splice(0, this.starts.length - s.reservoir);
    }
    if (s.reservoirIncreaseInterval && s.reservoirIncreaseAmount) {
      const max = s.reservoirIncreaseMaximum ?? s.reservoir ?? s.reservoirIncreaseAmount;
      const perMs = s.reservoirIncreaseAmount / s.reservoirIncreaseInterval;
      const at = Math.max(start, this.at);
      this.tokens = Math.min(max, this.tokens + (at - this.at) * perMs);
      this.at = at;
      if (this.tokens < 1) {
        start = at + (1 - this.tokens) / perMs;
        this.tokens = 1;
        this.at = start;
      }
      this.tokens -= 1;
    }
    this.next = start + (s.minTime ?? 0);
    this.last = start;
    return start;
  }

  /** How long after its last start this scope still remembers something that limits the next one. */
  memoryMs(): number {
    const s = this.scope;
    const bucket = s.reservoirIncreaseInterval && s.reservoirIncreaseAmount ? (((s.reservoirIncreaseMaximum ?? s.reservoir ?? 1) / s.reservoirIncreaseAmount) * s.reservoirIncreaseInterval) : 0;
    return Math.max(s.minTime ?? 0, s.reservoirRefreshInterval ?? 0, bucket);
  }
}

interface Chat {
  pace: Pace;
  tail: Promise<unknown>;
  pending: number;
}

/** Chats remembered before idle ones are forgotten. */
const SWEEP_AT = 5_000;

export class ChatPacer {
  private readonly global: Pace;
  private readonly chats = new Map<string, Chat>();
  private sweepAt = SWEEP_AT;

  constructor(
    private readonly opts: PacingOptions,
    private readonly clock: PaceClock = REAL_CLOCK,
  ) {
    this.global = new Pace(opts.global ?? {});
  }

  /** Chats with calls waiting or remembered limits (tests, metrics). */
  get size(): number {
    return this.chats.size;
  }

  /** Runs `call` when its chat's and the global limits allow, after the chat's earlier calls. */
  schedule<T>(chatId: string, call: () => Promise<T>): Promise<T> {
    let chat = this.chats.get(chatId);
    if (!chat) {
      if (this.chats.size >= this.sweepAt) {
        this.sweep();
        this.sweepAt = Math.max(SWEEP_AT, this.chats.size * 2);
      }
      chat = { pace: new Pace(Number(chatId) < 0 ? (this.opts.group ?? {}) : (this.opts.out ?? {})), tail: Promise.resolve(), pending: 0 };
      this.chats.set(chatId, chat);
    }
    const c = chat;
    c.pending += 1;
    const run = c.tail.then(async () => {
      const start = this.global.reserve(c.pace.reserve(this.clock.now()));
      const wait = start - this.clock.now();
      if (wait > 0) await this.clock.sleep(wait);
      return call();
    });
    c.tail = run.then(
      () => void (c.pending -= 1),
      () => void (c.pending -= 1),
    );
    return run;
  }

  /** Forgets chats with nothing waiting whose limits no longer hold anything back. */
  private sweep(): void {
    const now = this.clock.now();
    for (const [id, chat] of this.chats) if (!chat.pending && now - chat.pace.last > chat.pace.memoryMs()) this.chats.delete(id);
  }
}
