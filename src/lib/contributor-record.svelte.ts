/**
 * The contributor's record as the coordinator keeps it (GET /api/contributors/:id: reputation, audits, DPHN), polled,
 * with its DPHN over time for the plot. 404 (nothing served, verified or staked yet) leaves it null. Answers that
 * come back out of order are dropped, so an older one never overwrites a newer.
 */
import type { ContributorView } from '../protocol/accounts.ts';

/** [time ms, available, pending, staked] in µDPHN. */
export type DphnPoint = [number, number, number, number];

export class ContributorRecord {
  record = $state<ContributorView | null>(null);
  history = $state<DphnPoint[]>([]);
  #asked = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly contributorId: () => string | null,
    private readonly points = 150,
  ) {}

  /** Asks the coordinator now; resolves once the answer (if it is still the newest) is shown. */
  readonly refresh = async (): Promise<void> => {
    const id = this.contributorId();
    if (!id) return;
    const asked = ++this.#asked;
    const response = await fetch(`/api/contributors/${id}`).catch(() => null);
    const body = response?.ok ? ((await response.json().catch(() => null)) as ContributorView | null) : null;
    if (!body || asked !== this.#asked) return;
    this.record = body;
    const { available, pending, staked } = body.dphn;
    this.history = [...this.history.slice(1 - this.points), [Date.now(), available.micros, pending.micros, staked.micros]];
  };

  start(everyMs: number): void {
    this.stop();
    this.#timer = setInterval(() => void this.refresh(), everyMs);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
