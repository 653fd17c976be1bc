/**
 * Two small memories of the audit desk (audit-desk.ts), kept apart from its lifecycle logic. Pure: the clock is
 * passed in.
 *  - `PlantSources`: the last transcripts of each model, with who made each and who judged it, from which planted
 *    copies are made (known-bad ones from any recent job, known-good ones from jobs whose audit passed).
 *  - `Strikes`: tabs that took audits and gave no usable answer, paused after a few in a row.
 */
import type { TranscriptParts } from './audit-decision.ts';

/** Recent transcripts kept per model, unless told otherwise. */
const PLANT_SOURCES = 8;

export interface PlantSource {
  parts: TranscriptParts;
  workerId: string;
  /** Identities that had the transcript or a copy of it. */
  seenBy: Set<string>;
  /** For a known-good source: the verifiers whose passes it rests on. */
  passedBy: readonly string[];
}

export class PlantSources {
  private readonly byModel = new Map<string, PlantSource[]>();

  constructor(private readonly perModel = PLANT_SOURCES) {}

  /** A transcript of `workerId`'s; `seenBy` already know it (they had its audit), `passedBy` passed it. */
  add(parts: TranscriptParts, workerId: string, seenBy: Iterable<string> = [], passedBy: readonly string[] = []): void {
    const sources = this.byModel.get(parts.task.model) ?? [];
    sources.push({ parts, workerId, seenBy: new Set(seenBy), passedBy });
    if (sources.length > this.perModel) sources.shift();
    this.byModel.set(parts.task.model, sources);
  }

  /** `verifier` was given the audit of job `jobId`: it knows that transcript. */
  seen(model: string, jobId: string, verifier: string): void {
    this.byModel.get(model)?.find((s) => s.parts.task.jobId === jobId)?.seenBy.add(verifier);
  }

  /**
   * A source for a planted copy meant for `verifier` (or anyone, when null): never the verifier's own job (it would
   * know the transcript), one it has not judged when there is one; only sources `usable` allows.
   */
  pick(model: string, verifier: string | null, random: () => number, usable: (source: PlantSource) => boolean = () => true): PlantSource | null {
    const notOwn = (this.byModel.get(model) ?? []).filter((s) => s.workerId !== verifier && usable(s));
    const unseen = notOwn.filter((s) => verifier === null || !s.seenBy.has(verifier));
    const pool = unseen.length ? unseen : notOwn;
    return pool[Math.floor(random() * pool.length)] ?? null;
  }
}

/** Unanswered audits in a row that pause a tab, and for how long. */
export const MAX_STRIKES = 3;
export const STRIKE_PAUSE_MS = 10 * 60_000;

export class Strikes<T> {
  private readonly byTab = new Map<T, { count: number; pausedAt: number | null }>();

  /** The tab gave no usable answer; true when this strike paused it. */
  strike(tab: T, now: number): boolean {
    const strikes = this.byTab.get(tab) ?? { count: 0, pausedAt: null };
    strikes.count++;
    this.byTab.set(tab, strikes);
    if (strikes.count < MAX_STRIKES || strikes.pausedAt !== null) return false;
    strikes.pausedAt = now;
    return true;
  }

  /** The tab answered (or left): its record is clean. */
  clear(tab: T): void {
    this.byTab.delete(tab);
  }

  paused(tab: T, now: number): boolean {
    const pausedAt = this.byTab.get(tab)?.pausedAt ?? null;
    if (pausedAt === null) return false;
    if (now - pausedAt < STRIKE_PAUSE_MS) return true;
    this.byTab.delete(tab);
    return false;
  }
}
