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
