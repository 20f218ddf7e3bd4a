/**
 * The Slack channel's factory: `app.ts` calls it when SLACK_BOT_TOKEN is set, with SLACK_SIGNING_SECRET
 * (over HTTP) or SLACK_APP_TOKEN (Socket Mode).
 *
 * ```ts
 * if (config.slack) channels.set('slack', createSlackChannel(config.slack, ctx));
 * ```
 */
import type { ChannelContext } from '../../src/channel.js';
import { SlackAdapter, type SlackSettings } from './adapter.js';

export { SlackAdapter, type SlackSettings } from './adapter.js';
export { SlackDelivery, toPlatformError } from './delivery.js';
export { parseCommandText, parseDirectText } from './inbound.js';

/** Builds the Slack channel; over HTTP its route is mounted on `ctx.http` at once, before the server listens. */
export function createSlackChannel(settings: SlackSettings, ctx: ChannelContext): SlackAdapter {
  return new SlackAdapter(settings, ctx);
}
