/**
 * The console channel: a real adapter that chats in the terminal, with no account anywhere. Reads
 * one line at a time (from a keyboard or a pipe), turns it into an inbound event (`inbound.ts`),
 * hands it to the port and prints the answer (`delivery.ts`, `render.ts`).
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { ChannelAdapter } from '../../src/channel.js';
import type { Address, Inbound, Outbound } from '../../src/messages.js';
import { ConsoleDelivery } from './delivery.js';
import { consoleInbound, parseConsoleLine } from './inbound.js';

export { parseConsoleLine };

export interface ConsoleOptions {
  input: Readable;
  output: Writable;
  /** Handles an event and returns the reply (the port's `handle`). */
  handle: (inbound: Inbound) => Promise<Outbound[]>;
  /** The learner's id; one console learner per data folder by default. */
  userId?: string;
  ansi?: boolean;
  now?: () => Date;
  /** Called when the input ends (Ctrl-D, or the end of a pipe). */
  onEnd?: () => void;
}

export class ConsoleAdapter implements ChannelAdapter {
  readonly channel = 'console' as const;
  private seq = 0;
  private readonly session: string;
  private readonly address: Address;
  private readonly delivery: ConsoleDelivery;
  private closed?: Promise<void>;

  constructor(private readonly opts: ConsoleOptions) {
    this.address = { channel: 'console', conversationId: opts.userId ?? 'console', kind: 'direct' };
    this.delivery = new ConsoleDelivery(opts.output, { ansi: opts.ansi ?? false });
    this.session = this.now().getTime().toString(36);
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  async send(_address: Address, messages: Outbound[]): Promise<void> {
    this.delivery.deliver(messages);
  }

  /** Handles one typed line; resolves when its answer is printed. */
  async line(line: string): Promise<void> {
    const event = parseConsoleLine(line, this.delivery.choices);
    if (!event) return;
    const inbound = consoleInbound(`console-${this.session}-${++this.seq}`, this.address, event, this.now());
    this.delivery.deliver(await this.opts.handle(inbound));
  }

  /** Reads lines until the input ends; each line is answered before the next is read. */
  async start(): Promise<void> {
    const rl = createInterface({ input: this.opts.input, terminal: false });
    this.closed = (async () => {
      for await (const line of rl) await this.line(line);
      this.opts.onEnd?.();
    })();
  }

  /** Resolves when the input has ended and every line was answered. */
  finished(): Promise<void> {
    return this.closed ?? Promise.resolve();
  }

  async stop(): Promise<void> {}
}
