/**
 * Runs a worker's pass one at a time: on a timer, and at once whenever something wakes it
 * (`kick`). A kick that comes during a pass runs one more pass after it, so no wake-up is lost and
 * two passes never overlap. The inbox worker and the outbox sender both run this way.
 */
export class PassRunner {
  private timer: NodeJS.Timeout | undefined;
  private passing: Promise<void> | undefined;
  private again = false;
  private stoppedFlag = false;

  /** `pass` does one pass; a failure goes to `onError` and the next pass runs as usual. */
  constructor(
    private readonly pass: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Runs a pass now and every `intervalMs` (the timer does not keep the process alive). */
  start(intervalMs: number): void {
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.timer.unref();
    this.kick();
  }

  /** Runs a pass now, or right after the one in progress. */
  kick(): void {
    if (this.stoppedFlag) return;
    if (this.passing) {
      this.again = true;
      return;
    }
    this.passing = this.pass()
      .catch((err: unknown) => this.onError(err))
      .finally(() => {
        this.passing = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  get stopped(): boolean {
    return this.stoppedFlag;
  }

  /** Whether a pass is running. */
  get running(): boolean {
    return this.passing !== undefined;
  }

  /** Waits until no pass is running (the one in progress and any it asked for). */
  async settled(): Promise<void> {
    while (this.passing) await this.passing;
  }

  /** No more passes: the timer stops and kicks are ignored; waits for the pass in progress. */
  async stop(): Promise<void> {
    this.stoppedFlag = true;
    if (this.timer) clearInterval(this.timer);
    await this.settled();
  }
}
