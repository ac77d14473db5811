/**
 * The two restart policies of the server, kept free of VS Code so they can be tested alone:
 * settings changes restart it coalesced, crashes restart it a bounded number of times.
 */

/** Crash restarts allowed within the window before giving up. */
export const MAX_CRASH_RESTARTS = 3;
const CRASH_WINDOW_MS = 3 * 60_000;

/**
 * Runs a task so that calls never overlap: a call made while one runs queues exactly one more
 * run (any number of calls in the meantime collapse into it) and shares its promise.
 */
export class Coalesced {
  private inFlight: Promise<void> | undefined;
  private queued = false;

  constructor(private readonly task: () => Promise<void>) {}

  /** Whether a run is in progress. */
  get busy(): boolean {
    return this.inFlight !== undefined;
  }

  run(): Promise<void> {
    if (this.inFlight) {
      this.queued = true;
      return this.inFlight;
    }
    this.inFlight = (async () => {
      try {
        do {
          this.queued = false;
          await this.task();
        } while (this.queued);
      } finally {
        this.inFlight = undefined;
      }
    })();
    return this.inFlight;
  }
}

/** Counts crashes in a sliding window and says whether one more restart is allowed. */
export class CrashBudget {
  private crashes: number[] = [];

  constructor(
    readonly maxRestarts: number = MAX_CRASH_RESTARTS,
    private readonly windowMs: number = CRASH_WINDOW_MS,
  ) {}

  /** Record a crash at `now`; the result is its number within the window. */
  record(now: number): number {
    this.crashes = this.crashes.filter((t) => now - t < this.windowMs);
    this.crashes.push(now);
    return this.crashes.length;
  }

  reset(): void {
    this.crashes = [];
  }
}
