/**
 * What a person wants to know about a model download: how far it got, how fast it goes and how long is left.
 * Speed counts only bytes that came over the network (not those read from the browser's cache), over the last
 * few seconds, so a stall shows as a falling speed rather than a frozen one.
 */
import type { LoadProgress } from '../protocol/worker.ts';

export interface DownloadView {
  loadedBytes: number;
  totalBytes: number;
  /** Bytes read from this browser's cache instead of downloaded. */
  cachedBytes: number;
  /** 0..1 (1 for an empty model). */
  fraction: number;
  /** Network bytes per second over the window; null until two samples span some time. */
  bytesPerSecond: number | null;
  /** At the current speed; null while the speed is unknown or zero, 0 when done. */
  secondsLeft: number | null;
}

const WINDOW_MS = 3000;

export class DownloadMeter {
  /** (time, network bytes so far), oldest first, covering at most the window plus one sample before it. */
  #samples: Array<[number, number]> = [];
  #view: DownloadView | null = null;

  /** Records a progress report seen at `nowMs` and returns the view after it. */
  update(progress: LoadProgress, nowMs: number): DownloadView {
    const networkBytes = progress.loadedBytes - progress.cachedBytes;
    this.#samples.push([nowMs, networkBytes]);
    while (this.#samples.length > 2 && (this.#samples[1] as [number, number])[0] <= nowMs - WINDOW_MS) this.#samples.shift();
    const [t0, b0] = this.#samples[0] as [number, number];
    const elapsed = (nowMs - t0) / 1000;
    const bytesPerSecond = elapsed > 0 ? (networkBytes - b0) / elapsed : null;
    const left = Math.max(0, progress.totalBytes - progress.loadedBytes);
    this.#view = {
      loadedBytes: progress.loadedBytes,
      totalBytes: progress.totalBytes,
      cachedBytes: progress.cachedBytes,
      fraction: progress.totalBytes > 0 ? Math.min(1, progress.loadedBytes / progress.totalBytes) : 1,
      bytesPerSecond,
      secondsLeft: left === 0 ? 0 : bytesPerSecond ? left / bytesPerSecond : null,
    };
    return this.#view;
  }

  get view(): DownloadView | null {
    return this.#view;
  }
}

/** "1.5 MB", "820 KB", "12 B": decimal units, as browsers and disks show them. */
export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} KB`;
  return `${Math.round(n)} B`;
}

/** "2 h 5 min", "3 min 20 s", "14 s". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${s} s`;
}
