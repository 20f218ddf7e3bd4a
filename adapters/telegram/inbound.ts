/**
 * Telegram updates as neutral {@link Inbound} events. Pure: typed against the Bot API's JSON.
 * In groups the bot reacts only to its commands, its buttons and replies to its own messages.
 */
import type { CallbackQuery, Message, User } from 'grammy/types';
import { parseTyped } from '../../src/engine/commands.js';
import type { Address, Inbound, InboundEvent } from '../../src/messages.js';

/** The bot's own identity, as getMe gives it. */
export interface BotIdentity {
  id: number;
  username: string;
}

function displayName(from: Pick<User, 'first_name' | 'last_name' | 'username'>): string {
  return [from.first_name, from.last_name].filter(Boolean).join(' ').trim() || from.username || 'Telegram user';
}

/** The event of a message, or undefined when the bot should not react to it. */
export function eventOf(msg: Message, me: BotIdentity): InboundEvent | undefined {
  const inGroup = msg.chat.type !== 'private';
  const text = msg.text ?? msg.caption ?? '';
  const entity = (msg.entities ?? msg.caption_entities)?.[0];
  // Telegram marks commands with a bot_command entity: only those are commands.
  if (entity?.type === 'bot_command' && entity.offset === 0) return parseTyped(text, { botName: me.username });
  if (inGroup && msg.reply_to_message?.from?.id !== me.id) return undefined;
  if (msg.text === undefined && msg.caption === undefined && inGroup) return undefined;
  return { type: 'text', text };
}

function inbound(updateId: number, chat: { id: number; type: string }, from: User, event: InboundEvent, at: Date): Inbound {
  const address: Address = { channel: 'telegram', conversationId: String(chat.id), kind: chat.type === 'private' ? 'direct' : 'group' };
  return {
    id: `tg-${updateId}`,
    learner: { channel: 'telegram', userId: String(from.id) },
    address,
    displayName: displayName(from),
    ...(from.language_code ? { languageHint: from.language_code } : {}),
    event,
    at,
  };
}

/** A message update as an event; undefined for the bot's own and other bots' messages, and what it ignores. */
export function messageInbound(updateId: number, msg: Message, me: BotIdentity, now: Date): Inbound | undefined {
  const from = msg.from;
  if (!from || from.is_bot) return undefined;
  const event = eventOf(msg, me);
  if (!event) return undefined;
  return inbound(updateId, msg.chat, from, event, msg.date > 0 ? new Date(msg.date * 1000) : now);
}

/** A button tap as an event; undefined when the tapped message is gone or carries no data. */
export function callbackInbound(updateId: number, q: CallbackQuery, now: Date): Inbound | undefined {
  if (!q.message || q.data === undefined) return undefined;
  return inbound(updateId, q.message.chat, q.from, { type: 'choice', data: q.data }, now);
}
