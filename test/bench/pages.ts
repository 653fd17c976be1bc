/**
 * What the pages cost (issue #7) for `npm run bench`, without a browser:
 * - the network feed (coordinator/stats): one sample over a fleet of ready tabs and audited identities, the `sample`
 *   event each live /network page receives every interval and the `history` event a new one starts with (a full
 *   ring), built and serialized — time and bytes;
 * - what a browser downloads: widget.js and the app shell the service worker precaches (from the build in dist/).
 *   BENCH_PAGES_TABS (10000)  BENCH_PAGES_IDENTITIES (10000)
 */
import { readFile, stat } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { NetworkFeed } from '../../coordinator/stats/network-feed.ts';
import { NetworkHistory } from '../../coordinator/stats/network-history.ts';
import { TabRegistry } from '../../coordinator/tabs/tab-registry.ts';
import { AuditBook } from '../../coordinator/trust/audit-book.ts';
import { RecordingLink } from '../unit/tab-peer.ts';
import { median } from './stats.ts';

const TABS = Number(process.env.BENCH_PAGES_TABS ?? 10_000);
const IDENTITIES = Number(process.env.BENCH_PAGES_IDENTITIES ?? 10_000);
const SAMPLES = 300;

function timed<T>(runs: number, work: () => T): { ms: number; value: T } {
  const times: number[] = [];
  let value = work();
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    value = work();
    times.push(performance.now() - started);
  }
  return { ms: median(times), value };
}

async function fileSize(path: string): Promise<{ bytes: number; gzipBytes: number } | null> {
  const bytes = await readFile(path).catch(() => null);
  return bytes ? { bytes: bytes.length, gzipBytes: gzipSync(bytes).length } : null;
}

export async function benchPages() {
  const registry = new TabRegistry();
  for (let i = 0; i < TABS; i++) {
    const tab = registry.add(new RecordingLink());
    Object.assign(tab, { ready: true, contributorId: `c${i.toString(16).padStart(39, '0')}`, backend: i % 3 ? 'webgpu' : 'wasm', models: [i % 2 ? 'dolphin-small' : 'dolphin-tiny'], runningJobs: i % 3 });
  }
  const book = new AuditBook();
  for (let i = 0; i < IDENTITIES; i++) {
    const jobId = `j${i}`;
    book.opened({ jobId, model: 'dolphin-tiny', contributorId: `c${i.toString(16).padStart(39, '0')}`, transcriptSha256: 'ab' });
    book.decided(jobId, i % 50 ? 'passed' : 'convicted');
  }
  let clock = 0;
  const history = new NetworkHistory({ capacity: SAMPLES, startedAt: 0 });
  const feed = new NetworkFeed({ history, registry, waiting: () => 7, book, clock: () => (clock += 2000), intervalMs: 2000 });
  for (let i = 0; i < SAMPLES; i++) feed.tick();
  const unsubscribe = feed.subscribe(() => {});
  // A tick with a listener: the sample, the ready tabs and the ranking; then the event as the streams send it.
  const tick = timed(20, () => feed.tick());
  let event = '';
  const detach = feed.subscribe((e) => (event = JSON.stringify(e)));
  feed.tick();
  detach();
  unsubscribe();
  const history0 = timed(10, () => JSON.stringify(feed.snapshot()));
  const shell = await fileSize(join('dist', 'index.html'));
  const assets = await readFile(join('dist', 'sw.js'), 'utf8').then((sw) => [...sw.matchAll(/"url":"([^"]+)"/g)].map((m) => m[1] as string), () => []);
  let shellBytes = shell?.bytes ?? 0;
  for (const url of assets) if (url !== 'index.html') shellBytes += await stat(join('dist', url)).then((s) => s.size, () => 0);
  return {
    tabs: TABS,
    identities: IDENTITIES,
    feed: { tickMs: tick.ms, sampleEventBytes: event.length, historyEventMs: history0.ms, historyEventBytes: history0.value.length, samples: SAMPLES },
    widget: await fileSize(join('dist', 'widget.js')),
    appShell: { files: assets.length, bytes: shellBytes },
  };
}

export function printPages(r: Awaited<ReturnType<typeof benchPages>>): void {
  const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
  console.log(`\nPages (issue #7): network feed over ${r.tabs} ready tabs and ${r.identities} audited identities`);
  console.table({
    'sample tick (sample + tabs + top 10)': { value: `${r.feed.tickMs.toFixed(1)} ms` },
    'sample event (each live page, every interval)': { value: kb(r.feed.sampleEventBytes) },
    [`history event (${r.feed.samples} samples, a new page)`]: { value: `${kb(r.feed.historyEventBytes)}, ${r.feed.historyEventMs.toFixed(1)} ms to build` },
    'widget.js': { value: r.widget ? `${kb(r.widget.bytes)} (${kb(r.widget.gzipBytes)} gzip)` : 'not built' },
    'app shell precached': { value: `${r.appShell.files} files, ${kb(r.appShell.bytes)}` },
  });
}
