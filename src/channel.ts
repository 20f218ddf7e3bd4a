/**
 * The contract every channel adapter fulfils. One folder per channel under `adapters/`, each with
 * the same five parts:
 * - `inbound.ts`: a platform event → a neutral {@link import('./messages.js').Inbound} and its address (pure);
 * - `render.ts`: a neutral message → the platform's native form (pure);
 * - `delivery.ts`: send, edit, proactive send: the reply plan carried out, platform errors and
 *   limits translated once, retried by the one error policy (`src/scheduling/retry.ts`);
 * - `adapter.ts`: the wiring (SDK, webhook or socket, the port);
 * - `index.ts`: the factory `app.ts` calls.
 */
import type { Express } from 'express';
import type { Logger } from './logger.js';
import type { Address, Channel, Outbound, PostedRefs } from './messages.js';
import type { BotPort } from './runtime/bot.js';
import type { ReplyTarget } from './runtime/durable.js';

export interface ChannelAdapter {
  readonly channel: Channel;
  /**
   * True for a channel that has no private notices in a group (Teams): the runtime keeps one running
   * tally of who has answered each team-quiz question and sends it here, posted once, then edited.
   */
  readonly groupTally?: boolean;
  /**
   * Sends messages to a conversation on the bot's own initiative (reminders, a team quiz's posts),
   * retrying retryable failures; returns the platform ids of the team-quiz questions it posted (so
   * that any process can close them). Throws a {@link import('./errors.js').PlatformError} when the
   * platform refuses.
   */
  send(address: Address, messages: Outbound[]): Promise<PostedRefs | void>;
  /**
   * Sends a reply from the durable outbox, answering in place where `target` says how (the tapped
   * message, a callback to stop). Channels that accept events into the inbox implement it.
   */
  deliver?(address: Address, messages: Outbound[], target?: ReplyTarget): Promise<void>;
  /** Starts receiving (polling, sockets); webhook routes are mounted on the shared HTTP server. */
  start(): Promise<void>;
  /** Stops receiving and finishes what is in flight. */
  stop(): Promise<void>;
}

/** What a channel factory gets: the port to hand events to, the shared HTTP app to mount webhooks on, the clock. */
export interface ChannelContext {
  /** The bot, narrowed: handle an event, report an error, read a learner for a platform view. */
  port: BotPort;
  /** The one HTTP server's app (express 5); mount webhook routes here before it listens. */
  http: Express;
  logger: Logger;
  /** The one clock (tests pass a fake one). */
  now: () => Date;
  /** How platform calls wait between retries (tests pass a fake clock's sleep); default: real time. */
  sleep?: (ms: number) => Promise<void>;
}
