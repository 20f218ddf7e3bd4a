/**
 * Turns a Bot Framework activity (the JSON Teams posts to /api/messages) into a neutral
 * {@link Inbound}, and rebuilds a conversation reference from a saved {@link Address}. Pure, and
 * typed against the activity's JSON shape rather than an SDK class: the Microsoft 365 Agents SDK
 * uses the same Activity schema, so this file survives a move.
 */
import { ALL_WORDS, parseTyped } from '../../src/engine/commands.js';
import type { Address, Inbound, InboundEvent } from '../../src/messages.js';
import { submitData } from './render.js';

/** The parts of an activity this channel reads. */
export interface ActivityLike {
  type?: string;
  id?: string;
  timestamp?: string | Date;
  serviceUrl?: string;
  channelId?: string;
  locale?: string;
  text?: string;
  value?: unknown;
  replyToId?: string;
  from?: { id?: string; name?: string; aadObjectId?: string };
  recipient?: { id?: string; name?: string };
  conversation?: { id?: string; conversationType?: string; tenantId?: string; isGroup?: boolean };
  channelData?: { tenant?: { id?: string } } & Record<string, unknown>;
  entities?: { type?: string; mentioned?: { id?: string }; text?: string }[];
  membersAdded?: { id?: string }[];
}

/** The conversation reference a proactive send needs, as continueConversation takes it. */
export interface ReferenceLike {
  channelId: string;
  serviceUrl: string;
  conversation: { id: string; conversationType?: string; tenantId?: string; isGroup: boolean };
  bot: { id: string; name?: string };
}

/** Words that are commands when typed alone or first, with or without a slash ("next", "/quiz 3"). */
export const TEAMS_COMMANDS: ReadonlySet<string> = ALL_WORDS;

/** Removes the bot's @mention (`<at>Bot</at>`) from a channel message. */
export function stripBotMention(activity: ActivityLike): string {
  let text = activity.text ?? '';
  for (const e of activity.entities ?? []) {
    if (e.type === 'mention' && e.mentioned?.id === activity.recipient?.id && e.text) text = text.split(e.text).join(' ');
  }
  // Teams wraps mentions in <at> tags; a mention without its entity (forwarded text) is stripped too.
  return text.replace(/<at>[^<]*<\/at>/g, ' ').replace(/&nbsp;/g, ' ').trim();
}

/** A typed line as a command ("next", "/quiz m1 3") or free text. */
export function parseText(text: string): InboundEvent | undefined {
  return parseTyped(text, { bareWords: TEAMS_COMMANDS });
}

/** Group conversations are channels and group chats; a personal chat (or the Emulator) is direct. */
export function isGroupConversation(activity: ActivityLike): boolean {
  const type = activity.conversation?.conversationType;
  return type === 'channel' || type === 'groupChat' || (type !== 'personal' && activity.conversation?.isGroup === true);
}

/**
 * The conversation a group quiz belongs to. A Teams channel message arrives in a thread
 * (`19:...@thread.tacv2;messageid=...`); the quiz and its leaderboard belong to the channel, while
 * the saved reference keeps the thread so that questions are posted where the quiz was started.
 */
export function conversationKey(conversationId: string): string {
  return conversationId.split(';messageid=')[0]!;
}

/** The saved address of an activity's conversation: everything a proactive send needs, as flat JSON. */
export function addressOf(activity: ActivityLike): Address | undefined {
  const conversationId = activity.conversation?.id;
  if (!conversationId || !activity.serviceUrl || !activity.recipient?.id) return undefined;
  const group = isGroupConversation(activity);
  const ref: NonNullable<Address['ref']> = {
    serviceUrl: activity.serviceUrl,
    channelId: activity.channelId ?? 'msteams',
    conversationId,
    isGroup: group,
    botId: activity.recipient.id,
  };
  const tenantId = activity.conversation?.tenantId ?? activity.channelData?.tenant?.id;
  if (tenantId) ref.tenantId = tenantId;
  if (activity.conversation?.conversationType) ref.conversationType = activity.conversation.conversationType;
  if (activity.recipient.name) ref.botName = activity.recipient.name;
  return { channel: 'teams', conversationId: group ? conversationKey(conversationId) : conversationId, kind: group ? 'group' : 'direct', ref };
}

/** Rebuilds the conversation reference saved by {@link addressOf}; undefined when it is incomplete. */
export function referenceOf(address: Address): ReferenceLike | undefined {
  const r = address.ref ?? {};
  const str = (k: string) => (typeof r[k] === 'string' && r[k] ? (r[k] as string) : undefined);
  const serviceUrl = str('serviceUrl');
  const conversationId = str('conversationId');
  const botId = str('botId');
  if (!serviceUrl || !conversationId || !botId) return undefined;
  const conversationType = str('conversationType');
  const tenantId = str('tenantId');
  const botName = str('botName');
  return {
    channelId: str('channelId') ?? 'msteams',
    serviceUrl,
    conversation: { id: conversationId, isGroup: r.isGroup === true, ...(conversationType ? { conversationType } : {}), ...(tenantId ? { tenantId } : {}) },
    bot: { id: botId, ...(botName ? { name: botName } : {}) },
  };
}

/**
 * The neutral event of an activity, or undefined for activities the bot does not act on (typing,
 * reactions, members leaving...). A card submit carries its choice in `value`; the bot being added
 * to a conversation counts as "start", so that it introduces itself.
 */
export function toInbound(activity: ActivityLike, now: Date): Inbound | undefined {
  const address = addressOf(activity);
  const userId = activity.from?.id;
  if (!address || !userId || !activity.id) return undefined;
  let event: InboundEvent | undefined;
  if (activity.type === 'message') {
    const data = submitData(activity.value);
    event = data !== undefined ? { type: 'choice', data } : parseText(stripBotMention(activity));
  } else if (activity.type === 'conversationUpdate' && activity.membersAdded?.some((m) => m.id === activity.recipient?.id)) {
    event = { type: 'command', command: 'start', args: '' };
  }
  if (!event) return undefined;
  const at = activity.timestamp ? new Date(activity.timestamp) : now;
  return {
    id: `teams-${activity.id}`,
    learner: { channel: 'teams', userId },
    address,
    ...(activity.from?.name ? { displayName: activity.from.name } : {}),
    ...(activity.locale ? { languageHint: activity.locale } : {}),
    event,
    at: Number.isNaN(at.getTime()) ? now : at,
  };
}

/**
 * Hosts of the Bot Framework service URLs replies are posted to: the public cloud (Teams'
 * `smba.trafficmanager.net`, the Bot Framework's own), the US government clouds (GCC, GCC High, DoD)
 * and the China cloud. A bot without an app id authenticates nobody, so it must not post to any URL
 * a request names; `TEAMS_ALLOWED_SERVICE_URLS` adds others (the Emulator, a local fake).
 */
const BOT_FRAMEWORK_HOSTS = [
  /^smba\.trafficmanager\.net$/,
  /(^|\.)botframework\.com$/,
  /(^|\.)botframework\.azure\.us$/,
  /(^|\.)botframework\.azure\.cn$/,
  /^smba\.infra\.gcc\.teams\.microsoft\.com$/,
  /^smba\.infra\.(gov|dod)\.teams\.microsoft\.us$/,
];

/**
 * Whether replies may go to `serviceUrl`: a Bot Framework host over https, or under one of `extra`
 * (an origin with an optional path; `http://localhost:*` allows any port, as the Emulator picks one).
 */
export function serviceUrlAllowed(serviceUrl: string | undefined, extra: readonly string[]): boolean {
  let url: URL;
  try {
    url = new URL(serviceUrl ?? '');
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  if (url.protocol === 'https:' && BOT_FRAMEWORK_HOSTS.some((h) => h.test(url.hostname))) return true;
  return extra.some((allowed) => {
    const anyPort = /^[a-z]+:\/\/[^/]+:\*(\/|$)/i.test(allowed);
    const base = new URL(anyPort ? allowed.replace(/:\*(?=\/|$)/, '') : allowed);
    const sameServer = anyPort ? url.protocol === base.protocol && url.hostname === base.hostname : url.origin === base.origin;
    return sameServer && `${url.pathname}/`.startsWith(base.pathname.replace(/\/?$/, '/'));
  });
}
