/**
 * Prints the bot's reply plan in the terminal: each message rendered as text with its numbered
 * choices (the last ones shown are what a typed number picks). A `close` step prints nothing (the
 * console has no groups); notices print as a line in brackets.
 */
import type { Writable } from 'node:stream';
import { RenderError } from '../../src/errors.js';
import type { Choice, Outbound } from '../../src/messages.js';
import { renderConsole, type ConsoleStyle } from './render.js';

export class ConsoleDelivery {
  /** The choices of the last message that had any. */
  choices: Choice[] = [];

  constructor(
    private readonly output: Writable,
    private readonly style: ConsoleStyle,
  ) {}

  deliver(messages: Outbound[]): void {
    for (const m of messages) {
      if (m.kind === 'close') continue;
      let rendered;
      try {
        rendered = renderConsole(m, this.style);
      } catch (err) {
        throw new RenderError('console', m.kind, err);
      }
      if (rendered.choices.length) this.choices = rendered.choices;
      this.output.write(`\n${rendered.text}\n`);
    }
  }
}
