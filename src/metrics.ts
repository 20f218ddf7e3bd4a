/**
 * Prometheus metrics, served at /metrics: messages in and out per channel, engine latency, nudges
 * sent and failed, and the depth of the nudge queues. One registry per app instance (tests run
 * several apps in one process).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly messagesIn = new Counter({ name: 'digit4sd_messages_in_total', help: 'Inbound events handled, per channel', labelNames: ['channel'] as const, registers: [this.registry] });
  readonly messagesOut = new Counter({ name: 'digit4sd_messages_out_total', help: 'Messages sent, per channel', labelNames: ['channel'] as const, registers: [this.registry] });
  readonly engineSeconds = new Histogram({
    name: 'digit4sd_engine_seconds',
    help: 'Time to apply one inbound event (load, engine, conditional write), per channel',
    labelNames: ['channel'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly nudges = new Counter({ name: 'digit4sd_nudges_total', help: 'Nudge deliveries by outcome (sent, skipped, unreachable, failed)', labelNames: ['channel', 'outcome'] as const, registers: [this.registry] });
  readonly errors = new Counter({ name: 'digit4sd_errors_total', help: 'Errors reported, by where they happened', labelNames: ['where'] as const, registers: [this.registry] });
  readonly queueDepth: Gauge<'channel'>;
  private depthSource: (() => Promise<Record<string, number>>) | undefined;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'digit4sd_' });
    const metrics = this;
    this.queueDepth = new Gauge({
      name: 'digit4sd_nudge_queue_depth',
      help: 'Nudge jobs waiting or running, per channel',
      labelNames: ['channel'] as const,
      registers: [this.registry],
      async collect() {
        for (const [channel, n] of Object.entries((await metrics.depthSource?.()) ?? {})) this.set({ channel }, n);
      },
    });
  }

  /** Reads the queue depth from `source` (the BullMQ scheduler) at each scrape. */
  trackQueueDepth(source: () => Promise<Record<string, number>>): void {
    this.depthSource = source;
  }
}
