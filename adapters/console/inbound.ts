/**
 * A typed console line as a neutral event. A number picks one of the last message's choices;
 * "/command args" is a command (the shared parser, as on Telegram); anything else is text. An
 * empty line still reaches the bot, which says what it can do.
 */
import { parseTyped } from '../../src/engine/commands.js';
import type { Address, Choice, Inbound, InboundEvent } from '../../src/messages.js';

/** Parses a typed line into an event, given the choices on screen. */
export function parseConsoleLine(line: string, choices: Choice[]): InboundEvent {
  const text = line.trim();
  if (/^\d+$/.test(text)) {
    const choice = choices[Number(text) - 1];
    if (choice) return { type: 'choice', data: choice.data };
  }
  return parseTyped(text) ?? { type: 'text', text: '' };
}

/** The console learner's event (one learner per data folder). */
export function consoleInbound(id: string, address: Address, event: InboundEvent, at: Date): Inbound {
  return { id, learner: { channel: 'console', userId: address.conversationId }, address, displayName: 'You', event, at };
}
