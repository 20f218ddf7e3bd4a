/**
 * The contract every channel adapter fulfils (one folder per channel under `adapters/`, each with
 * the same parts: `render.ts` turns neutral messages into the platform's native form, `adapter.ts`
 * turns platform requests into {@link Inbound} events and sends what the bot answers).
 */
import type { Express } from 'express';
import type { Logger } from './logger.js';
import type { Address, Channel, Outbound } from './messages.js';
import type { ErrorSink, LearningBot } from './runtime/bot.js';

export interface ChannelAdapter {
  readonly channel: Channel;
  /**
   * Sends messages to a conversation on the bot's own initiative (reminders, a group question that
   * closed). Throws a {@link import('./errors.js').PlatformError} when the platform refuses.
   */
  send(address: Address, messages: Outbound[]): Promise<void>;
  /** Starts receiving (polling, sockets); webhook routes are mounted on the shared HTTP server. */
  start(): Promise<void>;
  /** Stops receiving and finishes what is in flight. */
  stop(): Promise<void>;
}

/** What a channel factory gets: the bot to hand events to, the shared HTTP app to mount webhooks on. */
export interface ChannelContext {
  bot: LearningBot;
  /** The one HTTP server's app (express 5); mount webhook routes here before it listens. */
  http: Express;
  logger: Logger;
  onError: ErrorSink;
  now: () => Date;
}
