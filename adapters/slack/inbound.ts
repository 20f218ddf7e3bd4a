/**
 * Slack payloads as neutral {@link Inbound} events. Pure: typed against the Events API and
 * interactivity JSON, so every rule is unit-tested without Bolt.
 *
 * - A direct message with the bot is the learner's private conversation: a first word that is a
 *   learner command is that command ("next", "/remind 08:30").
 * - The slash command (`/digit4sd quiz m2 5`) is a command in the conversation it came from.
 * - A button carries its encoded action; a team-quiz button is a group event in its channel.
 */
import { decodeAction } from '../../src/engine/actions.js';
import { LEARNER_WORDS, parseTyped } from '../../src/engine/commands.js';
import type { Address, Inbound, InboundEvent } from '../../src/messages.js';

/** The learner's name and locale, from users.info. */
export interface SlackUser {
  name?: string;
  locale?: string;
}

/** A direct-message text as an event: a first word that is a learner command is that command. */
export function parseDirectText(text: string): InboundEvent | undefined {
  return parseTyped(text, { bareWords: LEARNER_WORDS });
}

/** The slash command's text as a sub-command and its arguments; no text is "help". */
export function parseCommandText(text: string): { command: string; args: string } {
  const event = parseTyped(`/${text.trim().replace(/^\//, '') || 'help'}`);
  return event?.type === 'command' ? { command: event.command, args: event.args } : { command: 'help', args: '' };
}

/** Where an event happened: the conversation, whether it is a group, and the workspace. */
export interface SlackPlace {
  conversationId: string;
  kind: Address['kind'];
  teamId?: string | undefined;
}

/** A neutral event from its parts. */
export function slackInbound(id: string, userId: string, where: SlackPlace, event: InboundEvent, at: Date, who: SlackUser): Inbound {
  return {
    id,
    learner: { channel: 'slack', userId },
    address: { channel: 'slack', conversationId: where.conversationId, kind: where.kind, ...(where.teamId ? { ref: { teamId: where.teamId } } : {}) },
    ...(who.name ? { displayName: who.name } : {}),
    ...(who.locale ? { languageHint: who.locale } : {}),
    event,
    at,
  };
}

/** Whether a slash command came from a direct message. */
export function isDirectCommand(command: { channel_name?: string; channel_id: string }): boolean {
  return command.channel_name === 'directmessage' || command.channel_id.startsWith('D');
}

/** Whether a button belongs to a group conversation (a team-quiz button, or any button in a channel). */
export function isGroupAction(data: string, channelId: string | undefined, containerType: string | undefined): boolean {
  const decoded = decodeAction(data);
  return decoded?.type === 'group_answer' || decoded?.type === 'group_join' || (!!channelId && !channelId.startsWith('D') && containerType !== 'view');
}

/** A stable id for one interaction (a repeated delivery of it has the same id). */
export function actionEventId(where: string, userId: string, actionId: string, actionTs: string): string {
  return `act:${where}:${userId}:${actionId}:${actionTs}`;
}
