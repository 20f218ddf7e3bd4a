/**
 * Prints the bot's reply plan in the terminal: each message rendered as wrapped text with its
 * numbered choices (the last ones shown are what a typed number picks), then a prompt. A data
 * export is written as a file in the data folder when one is given (its path is printed). A
 * `close` step prints nothing (the console has no groups).
 */
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { RenderError } from '../../src/errors.js';
import type { Choice, Outbound } from '../../src/messages.js';
import { consolePrompt, renderConsole, wrapText } from './render.js';

export interface ConsoleDeliveryOptions {
  output: Writable;
  ansi: boolean;
  /** The terminal's width in columns, asked before each message (default 80). */
  width?: () => number | undefined;
  /** Where a data export is written as a file; without it, the JSON is printed. */
  dataDir?: string;
  /** Show a prompt when the bot waits for input (default true). */
  prompt?: boolean;
}

/** A file name that stays inside the data folder. */
const safeName = (filename: string) => filename.replace(/[^\w.-]/g, '_');

export class ConsoleDelivery {
  /** The choices of the last message that had any. */
  choices: Choice[] = [];

  constructor(private readonly opts: ConsoleDeliveryOptions) {}

  async deliver(messages: Outbound[]): Promise<void> {
    const { output } = this.opts;
    for (const m of messages) {
      if (m.kind === 'close') continue;
      if (m.kind === 'erased') {
        // /forget: the /mydata file this channel wrote goes too.
        if (this.opts.dataDir) await rm(join(this.opts.dataDir, safeName(m.filename)), { force: true });
        continue;
      }
      if (m.kind === 'data' && this.opts.dataDir) {
        output.write(`\n📄 ${await this.saveFile(m.filename, m.json)}\n`);
        continue;
      }
      if (m.kind === 'file' && this.opts.dataDir) {
        output.write(`\n${wrapText(m.caption, this.opts.width?.() ?? 80)}\n📄 ${await this.saveFile(m.filename, Buffer.from(m.base64, 'base64'))}\n`);
        continue;
      }
      let rendered;
      try {
        rendered = renderConsole(m, { ansi: this.opts.ansi, width: this.opts.width?.() ?? 80 });
      } catch (err) {
        throw new RenderError('console', m.kind, err);
      }
      if (rendered.choices.length) this.choices = rendered.choices;
      output.write(`\n${rendered.text}\n`);
    }
    if (messages.length && this.opts.prompt !== false) output.write(`\n${consolePrompt(this.choices)}`);
  }

  /** Writes an export into the data folder, readable by its owner only; returns its path. */
  private async saveFile(filename: string, content: string | Buffer): Promise<string> {
    const dir = this.opts.dataDir!;
    await mkdir(dir, { recursive: true });
    const path = join(dir, safeName(filename));
    await writeFile(path, content, { mode: 0o600 });
    await chmod(path, 0o600);
    return path;
  }
}
