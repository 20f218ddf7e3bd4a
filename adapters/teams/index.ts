/**
 * The Teams channel's factory: `createTeamsChannel(config.teams, ctx)` mounts `POST /api/messages`
 * on the shared HTTP app and returns the channel.
 *
 * ```ts
 * if (config.teams) channels.set('teams', createTeamsChannel(config.teams, ctx));
 * ```
 */
import type { ChannelContext } from '../../src/channel.js';
import { TeamsAdapter, type TeamsOptions, type TeamsSettings } from './adapter.js';

export { TeamsAdapter, type TeamsOptions, type TeamsSettings } from './adapter.js';
export { TeamsDelivery, toPlatformError } from './delivery.js';

export function createTeamsChannel(settings: TeamsSettings, ctx: ChannelContext, options: Partial<TeamsOptions> = {}): TeamsAdapter {
  return new TeamsAdapter(settings, ctx, options);
}
