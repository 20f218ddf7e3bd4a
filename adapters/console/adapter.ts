/**
 * The console channel: a real adapter that chats in the terminal, with no account anywhere. Reads
 * one line at a time (from a keyboard or a pipe), turns it into an inbound event, and prints the
 * answer. A number picks one of the last message's choices; "/command args" is a command, as on
 * Telegram; anything else is text.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { ChannelAdapter } from '../../src/channel.js';
import type { Address, Choice, Inbound, InboundEvent, Outbound } from '../../src/messages.js';
import { consolePrompt, renderConsole, wrapText } from './render.js';

export interface ConsoleOptions {
  input: Readable;
  output: Writable;
  /** Handles an event and returns the reply (the bot's `handle`). */
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

/** Parses a typed line into an event, given the choices on screen. */
export function parseConsoleLine(line: string, choices: Choice[]): InboundEvent {
  const text = line.trim();
  // An empty line still reaches the bot, which says what it can do.
  if (!text) return { type: 'text', text: '' };
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

  private async print(messages: Outbound[]): Promise<void> {
    for (const m of messages) {
      if (m.kind === 'data' && this.opts.dataDir) {
        this.opts.output.write(`\n📄 ${await this.saveFile(m.filename, m.json)}\n`);
        continue;
      }
      if (m.kind === 'file' && this.opts.dataDir) {
        this.opts.output.write(`\n${wrapText(m.caption, this.opts.width?.() ?? 80)}\n📄 ${await this.saveFile(m.filename, Buffer.from(m.base64, 'base64'))}\n`);
        continue;
      }
      const { text, choices } = renderConsole(m, { ansi: this.opts.ansi ?? false, width: this.opts.width?.() ?? 80 });
      if (choices.length) this.choices = choices;
      this.opts.output.write(`\n${text}\n`);
    }
    if (messages.length && this.opts.prompt !== false) this.opts.output.write(`\n${consolePrompt(this.choices)}`);
  }

  /** Writes an export into the data folder, readable by its owner only; returns its path. */
  private async saveFile(filename: string, content: string | Buffer): Promise<string> {
    const dir = this.opts.dataDir!;
    await mkdir(dir, { recursive: true });
    const path = join(dir, filename.replace(/[^\w.-]/g, '_'));
    await writeFile(path, content, { mode: 0o600 });
    await chmod(path, 0o600);
    return path;
  }

  async send(_address: Address, messages: Outbound[]): Promise<void> {
    await this.print(messages);
  }

  /** Handles one typed line; resolves when its answer is printed. */
  async line(line: string): Promise<void> {
    const event = parseConsoleLine(line, this.choices);
    const inbound: Inbound = {
      id: `console-${this.session}-${++this.seq}`,
      learner: { channel: 'console', userId: this.address.conversationId },
      address: this.address,
      displayName: 'You',
      event,
      at: this.opts.now?.() ?? new Date(),
    };
    await this.print(await this.opts.handle(inbound));
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
