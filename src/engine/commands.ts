/**
 * The one parser of typed commands, shared by every channel: "/remind 08:30" is the command
 * `remind` with the arguments "08:30"; where a channel lets people type a command without its
 * slash (Slack direct messages, Teams), a first word that is a known command counts too
 * ("next", "quiz m1 3"). Everything else is free text.
 *
 * ```ts
 * parseTyped('/quiz@digit4sd_bot m2 5', { botName: 'digit4sd_bot' }); // { type: 'command', command: 'quiz', args: 'm2 5' }
 * parseTyped('next', { bareWords: LEARNER_WORDS });                   // { type: 'command', command: 'next', args: '' }
 * ```
 */
import type { InboundEvent } from '../messages.js';
import { LEARNER_COMMANDS } from './engine.js';

/** Commands that also work in a group conversation. */
export const GROUP_COMMANDS = ['quiz', 'leaderboard', 'schedule', 'start', 'help'] as const;

/** Every command word a learner or a group may type without a slash, where a channel allows it. */
export const LEARNER_WORDS: ReadonlySet<string> = new Set<string>(LEARNER_COMMANDS);
export const ALL_WORDS: ReadonlySet<string> = new Set<string>([...LEARNER_COMMANDS, ...GROUP_COMMANDS]);

export interface ParseOptions {
  /** Words that are commands without a slash (none by default: only "/word" is a command). */
  bareWords?: ReadonlySet<string>;
  /**
   * The bot's own name: "/quiz@name" is for this bot; "/quiz@other" is someone else's command and
   * parses to undefined. Without it, any "@name" suffix is dropped.
   */
  botName?: string;
}

/** A typed line as a command or free text; undefined for an empty line or another bot's command. */
export function parseTyped(line: string, opts: ParseOptions = {}): InboundEvent | undefined {
  const text = line.trim();
  if (!text) return undefined;
  const slashed = /^\/([a-z0-9_]+)(?:@([a-z0-9_]+))?(?:\s+([\s\S]*))?$/i.exec(text);
  if (slashed) {
    const target = slashed[2];
    if (target && opts.botName && target.toLowerCase() !== opts.botName.toLowerCase()) return undefined;
    return { type: 'command', command: slashed[1]!.toLowerCase(), args: (slashed[3] ?? '').trim() };
  }
  const bare = /^([a-z]+)(?:\s+([\s\S]*))?$/i.exec(text);
  if (bare && opts.bareWords?.has(bare[1]!.toLowerCase())) return { type: 'command', command: bare[1]!.toLowerCase(), args: (bare[2] ?? '').trim() };
  return { type: 'text', text };
}
