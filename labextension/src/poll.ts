// A repeating task on a chain of timeouts: the next run is timed from the end of the previous one, so a
// slow server is never asked twice at once, and the delay is asked afresh each time.
export class Poll {
  private timer = 0;

  constructor(
    private readonly task: () => Promise<boolean>, // true: run again
    private readonly delay: () => number
  ) {}

  /** Schedule the next run, unless one is scheduled or running. */
  start(): void {
    if (this.timer) return;
    const id = window.setTimeout(async () => {
      const again = await this.task();
      if (this.timer !== id) return; // stopped (or stopped and started again) meanwhile
      this.timer = 0;
      if (again) this.start();
    }, this.delay());
    this.timer = id;
  }

  stop(): void {
    window.clearTimeout(this.timer);
    this.timer = 0;
  }
}
