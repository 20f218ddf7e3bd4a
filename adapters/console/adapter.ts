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
  /** The terminal's width in columns, asked before each message (default 80). */
  width?: () => number | undefined;
  /**
   * Where a learner's data export (/mydata) is written as a file; its path is printed. Without it,
   * the JSON is printed in the chat.
   */
  dataDir?: string;
  /** Show a prompt when the bot waits for input (default true). */
  prompt?: boolean;
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
    this.delivery = new ConsoleDelivery({
      output: opts.output,
      ansi: opts.ansi ?? false,
      ...(opts.width ? { width: opts.width } : {}),
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
      ...(opts.prompt !== undefined ? { prompt: opts.prompt } : {}),
    });
    this.session = this.now().getTime().toString(36);
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  async send(_address: Address, messages: Outbound[]): Promise<void> {
    await this.delivery.deliver(messages);
  }

  /** Handles one typed line; resolves when its answer is printed. */
  async line(line: string): Promise<void> {
    const event = parseConsoleLine(line, this.delivery.choices);
    const inbound = consoleInbound(`console-${this.session}-${++this.seq}`, this.address, event, this.now());
    await this.delivery.deliver(await this.opts.handle(inbound));
  }

  /** Reads lines until the input ends; each line is answered before the next is read. */
  async start(): Promise<void> {
    const rl = createInterface({ input: this.opts.input, terminal: false });
    this.closed = (async () => {
      for await (const line of rl) await this.line(line);
      if (this.opts.prompt !== false) this.opts.output.write('\n');
      this.opts.onEnd?.();
    })();
  }

  /** Resolves when the input has ended and every line was answered. */
  finished(): Promise<void> {
    return this.closed ?? Promise.resolve();
  }

  async stop(): Promise<void> {}
}
