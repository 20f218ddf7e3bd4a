/**
 * The Telegram channel's factory, as `src/app.ts` wires it:
 *
 * ```ts
 * if (config.telegram) channels.set('telegram', createTelegramChannel(config.telegram, ctx));
 * ```
 */
import type { ChannelContext } from '../../src/channel.js';
import { TelegramAdapter, type TelegramOptions, type TelegramSettings } from './adapter.js';

export { TelegramAdapter, DEFAULT_THROTTLE, type TelegramOptions, type TelegramSettings } from './adapter.js';
export { toPlatformError, TelegramDelivery } from './delivery.js';

/** Creates the Telegram channel; in webhook mode it mounts its route on `ctx.http` right away. */
export function createTelegramChannel(settings: TelegramSettings, ctx: ChannelContext, options: TelegramOptions = {}): TelegramAdapter {
  return new TelegramAdapter(settings, ctx, options);
}
