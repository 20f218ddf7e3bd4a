/**
 * The console channel: a real adapter that chats in the terminal, with no account anywhere. Reads
 * one line at a time (from a keyboard or a pipe), turns it into an inbound event, and prints the
 * answer. A number picks one of the last message's choices; "/command args" is a command, as on
 * Telegram; anything else is text.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { ChannelAdapter } from '../../src/channel.js';
import type { Address, Choice, Inbound, InboundEvent, Outbound } from '../../src/messages.js';
import { renderConsole } from './render.js';

export interface ConsoleOptions {
  input: Readable;
  output: Writable;
  /** Handles an event and returns the reply (the bot's `handle`). */
  handle: (inbound: Inbound) => Promise<Outbound[]>;
  /** The learner's id; one console learner per data folder by default. */
  userId?: string;
  ansi?: boolean;
  now?: () => Date;
  /** Called when the input ends (Ctrl-D, or the end of a pipe). */
  onEnd?: () => void;
}

/** Parses a typed line into an event, given the choices on screen. */
export function parseConsoleLine(line: string, choices: Choice[]): InboundEvent | undefined {
  const text = line.trim();
  if (!text) return undefined;
  const command = /^\/(\w+)(?:@\w+)?(?:\s+(.*))?$/.exec(text);
  if (command) return { type: 'command', command: command[1]!.toLowerCase(), args: command[2] ?? '' };
  if (/^\d+$/.test(text)) {
    const choice = choices[Number(text) - 1];
    if (choice) return { type: 'choice', data: choice.data };
  }
  return { type: 'text', text };
}

export class ConsoleAdapter implements ChannelAdapter {
  readonly channel = 'console' as const;
  private choices: Choice[] = [];
  private seq = 0;
  private readonly session = Date.now().toString(36);
  private readonly address: Address;
  private closed?: Promise<void>;

  constructor(private readonly opts: ConsoleOptions) {
    this.address = { channel: 'console', conversationId: opts.userId ?? 'console', kind: 'direct' };
  }

  private print(messages: Outbound[]): void {
    for (const m of messages) {
      const { text, choices } = renderConsole(m, { ansi: this.opts.ansi ?? false });
      if (choices.length) this.choices = choices;
      this.opts.output.write(`\n${text}\n`);
    }
  }

  async send(_address: Address, messages: Outbound[]): Promise<void> {
    this.print(messages);
  }

  /** Handles one typed line; resolves when its answer is printed. */
  async line(line: string): Promise<void> {
    const event = parseConsoleLine(line, this.choices);
    if (!event) return;
    const inbound: Inbound = {
      id: `console-${this.session}-${++this.seq}`,
      learner: { channel: 'console', userId: this.address.conversationId },
      address: this.address,
      displayName: 'You',
      event,
      at: this.opts.now?.() ?? new Date(),
    };
    this.print(await this.opts.handle(inbound));
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
