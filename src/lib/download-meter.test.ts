import { describe, expect, it } from 'vitest';
import { DownloadMeter } from './download-meter.ts';

const progress = (loadedBytes: number, cachedBytes = 0, totalBytes = 10_000_000) => ({ modelId: 'm', loadedBytes, totalBytes, cachedBytes });

describe('DownloadMeter', () => {
  it('knows no speed from a single report', () => {
    const view = new DownloadMeter().update(progress(0), 1000);
    expect(view).toMatchObject({ fraction: 0, bytesPerSecond: null, secondsLeft: null });
  });

  it('measures network bytes per second and the time left at that speed', () => {
    const meter = new DownloadMeter();
    meter.update(progress(0), 0);
    meter.update(progress(1_000_000), 1000);
    const view = meter.update(progress(2_000_000), 2000);
    expect(view.bytesPerSecond).toBeCloseTo(1_000_000);
    expect(view.secondsLeft).toBeCloseTo(8);
    expect(view.fraction).toBeCloseTo(0.2);
  });

  it('does not count bytes read from the cache as speed', () => {
    const meter = new DownloadMeter();
    meter.update(progress(0), 0);
    const view = meter.update(progress(5_000_000, 4_000_000), 1000);
    expect(view.bytesPerSecond).toBeCloseTo(1_000_000);
    expect(view.secondsLeft).toBeCloseTo(5);
  });

  it('forgets samples older than its window, so a stall shows', () => {
    const meter = new DownloadMeter();
    meter.update(progress(0), 0);
    meter.update(progress(5_000_000), 1000);
    meter.update(progress(5_000_000), 5000);
    const view = meter.update(progress(5_000_000), 6000);
    expect(view.bytesPerSecond).toBe(0);
    expect(view.secondsLeft).toBeNull();
  });

  it('reports done as no time left, and an empty model as complete', () => {
    const meter = new DownloadMeter();
    meter.update(progress(0), 0);
    expect(meter.update(progress(10_000_000), 500)).toMatchObject({ fraction: 1, secondsLeft: 0 });
    expect(new DownloadMeter().update(progress(0, 0, 0), 0).fraction).toBe(1);
  });
});
