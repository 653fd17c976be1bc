/**
 * Transport numbers for `npm run bench`, measured from two contributor tabs in Chromium against the coordinator on
 * loopback: data-channel connect time, round trips (p50/p99) and tab->coordinator throughput over the data channel
 * and over the WebSocket, and tab<->tab round trips and throughput over the mesh.
 */
import type { Browser, Page } from 'playwright-core';
import { median, percentile } from './stats.ts';

type TabApi = {
  dolphin: {
    link(): {
      webrtcConnectMs: number | null;
      ping(via: 'websocket' | 'webrtc', pad?: number): Promise<number>;
      throughput(via: 'websocket' | 'webrtc', bytes: number): Promise<number>;
    } | null;
    mesh(): { peerId: string; expect(id: string): void; dial(id: string): Promise<void>; ping(id: string): Promise<number>; send(id: string, p: Uint8Array): Promise<void> } | null;
  };
};

const PINGS = Number(process.env.BENCH_PINGS ?? 300);
const THROUGHPUT_BYTES = Number(process.env.BENCH_THROUGHPUT_BYTES ?? 8_000_000);
const MESH_BYTES = 5 * 1024 * 1024;

async function openTab(browser: Browser, base: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${base}/?autostart=1&expose=1&backend=wasm&model=dolphin-tiny`);
  await page.waitForSelector('[data-testid=transport][data-transport=webrtc]', { timeout: 120_000 });
  return page;
}

const roundTrips = (samples: number[]) => ({ p50: median(samples), p99: percentile(samples, 99) });

export async function benchTransport(browser: Browser, base: string) {
  const [a, b] = [await openTab(browser, base), await openTab(browser, base)];
  try {
    const link = (page: Page, via: 'websocket' | 'webrtc', pings: number) =>
      page.evaluate(
        async ({ via, pings }) => {
          const l = (window as unknown as TabApi).dolphin.link();
          if (!l) throw new Error('no link');
          for (let i = 0; i < 20; i++) await l.ping(via); // warm-up
          const samples: number[] = [];
          for (let i = 0; i < pings; i++) samples.push(await l.ping(via));
          return samples;
        },
        { via, pings },
      );
    const throughput = (page: Page, via: 'websocket' | 'webrtc') =>
      page.evaluate(async ({ via, bytes }) => (window as unknown as TabApi).dolphin.link()!.throughput(via, bytes), { via, bytes: THROUGHPUT_BYTES });
    const connectMs = await Promise.all([a, b].map((p) => p.evaluate(() => (window as unknown as TabApi).dolphin.link()?.webrtcConnectMs ?? null)));

    const dataChannel = { ...roundTrips(await link(a, 'webrtc', PINGS)), bytesPerSecond: await throughput(a, 'webrtc') };
    const websocket = { ...roundTrips(await link(a, 'websocket', PINGS)), bytesPerSecond: await throughput(a, 'websocket') };

    const peerOf = (page: Page) => page.evaluate(() => (window as unknown as TabApi).dolphin.mesh()?.peerId ?? '');
    const [idA, idB] = [await peerOf(a), await peerOf(b)];
    await b.evaluate((id) => (window as unknown as TabApi).dolphin.mesh()!.expect(id), idA);
    const mesh = await a.evaluate(
      async ({ id, pings, bytes }) => {
        const m = (window as unknown as TabApi).dolphin.mesh()!;
        const dialStarted = performance.now();
        await m.dial(id);
        const connectMs = performance.now() - dialStarted;
        for (let i = 0; i < 20; i++) await m.ping(id);
        const samples: number[] = [];
        for (let i = 0; i < pings; i++) samples.push(await m.ping(id));
        const payload = new Uint8Array(bytes);
        for (let i = 0; i < bytes; i += 65536) crypto.getRandomValues(payload.subarray(i, Math.min(bytes, i + 65536)));
        const started = performance.now();
        await m.send(id, payload);
        return { connectMs, samples, bytesPerSecond: bytes / ((performance.now() - started) / 1000) };
      },
      { id: idB, pings: PINGS, bytes: MESH_BYTES },
    );
    return {
      pings: PINGS,
      dataChannelConnectMs: connectMs,
      coordinatorTab: { dataChannel, websocket },
      tabTab: { connectMs: mesh.connectMs, ...roundTrips(mesh.samples), bytesPerSecond: mesh.bytesPerSecond, payloadBytes: MESH_BYTES },
    };
  } finally {
    await a.context().close();
    await b.context().close();
  }
}

export type TransportResult = Awaited<ReturnType<typeof benchTransport>>;

export function printTransport(t: TransportResult) {
  const f = (n: number | null, d = 2) => (n === null || !Number.isFinite(n) ? '–' : n.toFixed(d));
  const mbps = (n: number) => `${(n / 1e6).toFixed(1)} MB/s`;
  console.log(`\ntransport (loopback, ${t.pings} pings each)`);
  console.log(`  data channel connect (tab listening -> open): ${t.dataChannelConnectMs.map((m) => `${f(m, 0)} ms`).join(', ')}`);
  console.log(`  coordinator<->tab over the data channel: RTT p50 ${f(t.coordinatorTab.dataChannel.p50)} ms, p99 ${f(t.coordinatorTab.dataChannel.p99)} ms, tab->coordinator ${mbps(t.coordinatorTab.dataChannel.bytesPerSecond)} (target p50 ≤ 2 ms)`);
  console.log(`  coordinator<->tab over the WebSocket:    RTT p50 ${f(t.coordinatorTab.websocket.p50)} ms, p99 ${f(t.coordinatorTab.websocket.p99)} ms, tab->coordinator ${mbps(t.coordinatorTab.websocket.bytesPerSecond)}`);
  console.log(`  tab<->tab over the mesh: connect ${f(t.tabTab.connectMs, 0)} ms, RTT p50 ${f(t.tabTab.p50)} ms, p99 ${f(t.tabTab.p99)} ms, ${mbps(t.tabTab.bytesPerSecond)} for ${t.tabTab.payloadBytes / 1048576} MiB`);
}
