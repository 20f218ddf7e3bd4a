/**
 * The bot's own error types. Platform failures are translated once, in the adapter that saw them,
 * into a {@link PlatformError} with structured fields; the scheduler and the error sink act on the
 * fields, never on a platform's error text.
 */
import type { Channel } from './messages.js';

export class PlatformError extends Error {
  readonly platform: Channel;
  readonly method: string;
  readonly status: number | undefined;
  /** Seconds the platform asked us to wait (HTTP 429), if it said. */
  readonly retryAfterSec: number | undefined;
  /** The learner cannot be reached any more (blocked the bot, left the workspace, chat gone). */
  readonly unreachable: boolean;
  /** What the platform said (its error code, such as Slack's `invalid_auth`), for people to read. */
  readonly description: string;
  /** The platform refuses the bot's own credentials (a wrong, revoked or expired token): a setting to fix, not a call to retry. */
  readonly unauthorized: boolean;

  constructor(fields: { platform: Channel; method: string; status?: number; retryAfterSec?: number; unreachable?: boolean; unauthorized?: boolean; description: string; cause?: unknown }) {
    super(`${fields.platform} ${fields.method} failed${fields.status ? ` (${fields.status})` : ''}: ${fields.description}`, { cause: fields.cause });
    this.name = 'PlatformError';
    this.platform = fields.platform;
    this.method = fields.method;
    this.status = fields.status;
    this.retryAfterSec = fields.retryAfterSec;
    this.unreachable = fields.unreachable ?? false;
    this.unauthorized = fields.unauthorized ?? false;
    this.description = fields.description;
  }

  /** Whether trying again later may work (rate limits, platform hiccups). */
  get retryable(): boolean {
    if (this.unreachable || this.unauthorized) return false;
    return this.status === undefined || this.status === 429 || this.status === 412 || this.status >= 500;
  }
}

/**
 * A neutral message that a channel could not render (a bug, or content the platform cannot
 * show). Never retried: trying again renders the same failure. Reported once, with the channel and
 * the message kind.
 */
export class RenderError extends PlatformError {
  constructor(platform: Channel, kind: string, cause: unknown) {
    super({ platform, method: `render ${kind}`, status: 422, description: `could not render a ${kind} message: ${cause instanceof Error ? cause.message : String(cause)}`, cause });
    this.name = 'RenderError';
  }
}

/**
 * A setting that is well formed but does not work (a token the platform refuses). Start-up stops with
 * its message, which names the setting, what is wrong and the fix, never the setting's value; `main.ts`
 * exits with code 2, as for any bad setting.
 *
 * ```ts
 * throw new SettingError('SLACK_BOT_TOKEN', 'Slack refuses the bot token (invalid_auth)', 'set SLACK_BOT_TOKEN to ...');
 * ```
 */
export class SettingError extends Error {
  constructor(
    readonly setting: string,
    problem: string,
    fix: string,
    options?: { cause?: unknown },
  ) {
    super(`${setting}: ${problem}. Fix: ${fix}.`, options);
    this.name = 'SettingError';
  }
}
