/**
 * Socket Mode for the Slack channel (an app-level token, no public HTTPS address), acknowledging an
 * Events API envelope only once the bot is done with its event.
 *
 * Bolt's own `SocketModeReceiver` acknowledges an Events API envelope before any listener runs, and
 * Slack never delivers an acknowledged envelope again: an event in hand when the process dies is
 * lost. This receiver, on the same `SocketModeClient`, holds that acknowledgement until Bolt's
 * listeners have finished with the event (today: applied and answered; with a durable inbox: stored),
 * and withholds it when a listener's work failed, so that Slack delivers the envelope again
 * (`retry_attempt` 1, 2, 3). A delivered-again event is applied once: the store keeps the ids of the
 * events it applied.
 *
 * Interactive and slash-command envelopes are acknowledged when their listener calls `ack()`, as
 * with Bolt's receiver: their acknowledgement may carry a response, and Slack does not deliver them
 * again (the user sees the failure and can tap again).
 *
 * ```ts
 * const receiver = new AckAfterWorkReceiver({ appToken, logger, slackApiUrl, onError });
 * const app = new App({ token, receiver });
 * app.event('message', async ({ context }) => {
 *   try { await work(); } catch (err) { envelopeOf(context)?.markFailed(); }
 * });
 * ```
 */
import type { App, Logger as BoltLogger, Receiver, ReceiverEvent } from '@slack/bolt';
import { SocketModeClient } from '@slack/socket-mode';

export interface AckAfterWorkOptions {
  /** The app-level token (xapp-...). */
  appToken: string;
  logger: BoltLogger;
  /** The Web API base for `apps.connections.open`, ending in /api/. */
  slackApiUrl: string;
  /**
   * Milliseconds the client waits for a pong before it reconnects, and before each reconnection
   * (the SDK's default, 5000, when unset).
   */
  clientPingTimeoutMs?: number;
  /** Receives what went wrong outside any listener (Bolt itself failing on an envelope). */
  onError: (err: unknown, context: Record<string, unknown>) => void;
}

/** The envelope types whose acknowledgement waits for the listeners. */
const HELD_TYPES = new Set(['events_api']);

/**
 * One Socket Mode envelope, found by an Events API listener in `context.envelope`. It is
 * acknowledged after the listeners return, unless one of them called {@link markFailed}.
 */
export class SocketEnvelope {
  private failed = false;

  /** The work for this envelope failed: leave it unacknowledged, so that Slack delivers it again. */
  markFailed(): void {
    this.failed = true;
  }

  /** Whether it may be acknowledged: no listener's work failed. */
  get succeeded(): boolean {
    return !this.failed;
  }
}

/** The Socket Mode envelope a listener runs for (undefined over HTTP). */
export function envelopeOf(context: Record<string, unknown>): SocketEnvelope | undefined {
  return context.envelope instanceof SocketEnvelope ? context.envelope : undefined;
}

/** What the SDK's client hands over for each envelope (`slack_event`). */
interface SlackEventArgs {
  ack: (response?: Record<string, unknown>) => Promise<void>;
  envelope_id: string;
  type: string;
  body: Record<string, unknown>;
  retry_num?: number;
  retry_reason?: string;
}

/** A Bolt receiver for Socket Mode that acknowledges an Events API envelope after the work. */
export class AckAfterWorkReceiver implements Receiver {
  /** The SDK's client: one WebSocket, reconnected when Slack asks or the connection drops. */
  readonly client: SocketModeClient;
  private app?: InstanceType<typeof App>;
  private closing = false;
  private readonly inHand = new Set<Promise<void>>();

  constructor(private readonly opts: AckAfterWorkOptions) {
    this.client = new SocketModeClient({
      appToken: opts.appToken,
      logger: opts.logger,
      ...(opts.clientPingTimeoutMs !== undefined ? { clientPingTimeout: opts.clientPingTimeoutMs } : {}),
      clientOptions: { slackApiUrl: opts.slackApiUrl },
    });
    this.client.on('slack_event', (args: SlackEventArgs) => {
      // Stopping: leave it unacknowledged; Slack delivers it again to the next connection.
      if (this.closing) return;
      const p = this.dispatch(args);
      this.inHand.add(p);
      void p.finally(() => this.inHand.delete(p));
    });
  }

  init(app: InstanceType<typeof App>): void {
    this.app = app;
  }

  async start(): Promise<unknown> {
    this.closing = false;
    return this.client.start();
  }

  /** Takes no new envelope, lets the ones in hand finish (and be acknowledged), then disconnects. */
  async stop(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.inHand]);
    await this.client.disconnect();
  }

  private async dispatch(args: SlackEventArgs): Promise<void> {
    const held = HELD_TYPES.has(args.type);
    const envelope = new SocketEnvelope();
    let acked = false;
    const ack = async (response?: Record<string, unknown>) => {
      if (acked) return;
      acked = true;
      await args.ack(response);
    };
    const event: ReceiverEvent = {
      body: args.body,
      // Bolt acknowledges events before the listeners run: for a held envelope that call does nothing.
      ack: held ? async () => {} : ack,
      ...(args.retry_num !== undefined ? { retryNum: args.retry_num } : {}),
      ...(args.retry_reason !== undefined ? { retryReason: args.retry_reason } : {}),
      customProperties: { envelope },
    };
    try {
      await this.app!.processEvent(event);
    } catch (err) {
      // Bolt reports a listener's error itself; this is Bolt failing before any listener ran.
      this.opts.onError(err, { where: 'slack-socket', type: args.type });
      return;
    }
    if (!held || !envelope.succeeded) return;
    try {
      await ack();
    } catch (err) {
      // The connection closed meanwhile: Slack delivers the envelope again, and it is applied once.
      this.opts.logger.warn(`Socket Mode envelope not acknowledged (${err instanceof Error ? err.message : String(err)}); Slack will deliver it again`);
    }
  }
}
