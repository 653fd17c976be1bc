/**
 * How many tab links one coordinator process holds, and its memory per link, with simulated tabs in this process:
 * WebSocket tabs (each proves an identity and is accepted) and WebRTC tabs (each also registers a PeerJS peer and
 * takes the coordinator's data channel; peerjs on node-datachannel, bound to 127.0.0.1). Memory is the
 * coordinator's resident set (/proc/<pid>/status), before and after each batch of links.
 *   BENCH_LINKS_WS (5000)  BENCH_LINKS_RTC (1000)
 */
import { readFile } from 'node:fs/promises';
import { WebSocket } from 'ws';
import { installNodeWebRtc } from '../../coordinator/transport/node-webrtc.ts';
import { helloMessage, TestIdentity } from '../unit/tab-peer.ts';
import type { CoordinatorToTab, WebRtcInvitation } from '../../src/protocol/tab.ts';

const WS_LINKS = Number(process.env.BENCH_LINKS_WS ?? 5000);
const RTC_LINKS = Number(process.env.BENCH_LINKS_RTC ?? 1000);
const BATCH = 25;

async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN) * 1024;
}

interface SimulatedTab {
  socket: WebSocket;
  invitation: WebRtcInvitation | null;
  close(): void;
}

/** A tab that connects, proves `identity` and waits for `accepted`. */
function connectTab(base: string, identity: TestIdentity): Promise<SimulatedTab> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${base.replace(/^http/, 'ws')}/tabs`);
    const timer = setTimeout(() => reject(new Error('no accepted within 20 s')), 20_000);
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as CoordinatorToTab;
      if (message.type === 'welcome') socket.send(JSON.stringify({ ...helloMessage([]), identity: identity.prove(message.challenge) }));
      if (message.type === 'accepted') {
        clearTimeout(timer);
        resolve({ socket, invitation: message.webrtc, close: () => socket.terminate() });
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

type PeerCtor = typeof import('peerjs').Peer;

/** Makes `tab` a WebRTC tab: registers its peer, says it listens, resolves when the coordinator's channel opens. */
function listen(Peer: PeerCtor, base: string, tab: SimulatedTab): Promise<() => void> {
  const invitation = tab.invitation;
  if (!invitation) return Promise.reject(new Error('the coordinator offered no WebRTC'));
  const url = new URL(base);
  const peer = new Peer(invitation.peerId, {
    host: url.hostname,
    port: Number(url.port),
    path: invitation.path,
    key: invitation.key,
    token: invitation.token,
    secure: false,
    debug: 0,
    config: { iceServers: [], bindAddress: '127.0.0.1' } as RTCConfiguration,
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no data channel within 20 s')), 20_000);
    peer.on('open', () => tab.socket.send(JSON.stringify({ type: 'webrtc', state: 'listening' })));
    peer.on('connection', (conn) => {
      if (conn.peer !== invitation.coordinatorPeerId) return conn.close();
      conn.on('open', () => {
        clearTimeout(timer);
        resolve(() => peer.destroy());
      });
    });
    peer.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

export async function benchLinks({ base, coordinatorPid }: { base: string; coordinatorPid: number }) {
  installNodeWebRtc();
  const { Peer } = await import('peerjs');
  const identity = new TestIdentity();
  const closers: Array<() => void> = [];
  const settle = async () => {
    global.gc?.();
    await new Promise((r) => setTimeout(r, 1500));
    return rssBytes(coordinatorPid);
  };
  try {
    const baseline = await settle();
    // WebSocket links.
    let websocketLinks = 0;
    let websocketError: string | null = null;
    const wsStarted = performance.now();
    while (websocketLinks < WS_LINKS && !websocketError) {
      const batch = await Promise.allSettled(Array.from({ length: Math.min(BATCH * 4, WS_LINKS - websocketLinks) }, () => connectTab(base, identity)));
      for (const r of batch) {
        if (r.status === 'fulfilled') {
          closers.push(r.value.close);
          websocketLinks++;
        } else websocketError ??= String(r.reason);
      }
    }
    const wsSeconds = (performance.now() - wsStarted) / 1000;
    const afterWebSockets = await settle();
    const websocket = { links: websocketLinks, seconds: wsSeconds, bytesPerLink: (afterWebSockets - baseline) / Math.max(1, websocketLinks), error: websocketError };
    for (const close of closers.splice(0)) close();
    await new Promise((r) => setTimeout(r, 3000));

    // WebRTC links (each also has its WebSocket session and its signalling socket).
    const rtcBaseline = await settle();
    let rtcLinks = 0;
    let rtcFailed = 0;
    let rtcError: string | null = null;
    const rtcStarted = performance.now();
    // A single data channel may fail to open (libdatachannel closes about one Node-to-Node connection in twenty
    // right after ICE; the coordinator calls again later): count those, and stop only if more than 5% fail.
    while (rtcLinks < RTC_LINKS && rtcFailed <= Math.max(2, 0.05 * (rtcLinks + rtcFailed))) {
      const batch = await Promise.allSettled(
        Array.from({ length: Math.min(BATCH, RTC_LINKS - rtcLinks) }, async () => {
          const tab = await connectTab(base, identity);
          closers.push(tab.close);
          closers.push(await listen(Peer, base, tab));
        }),
      );
      for (const r of batch) {
        if (r.status === 'fulfilled') rtcLinks++;
        else {
          rtcFailed++;
          rtcError ??= String(r.reason);
        }
      }
      if (rtcLinks % 200 < BATCH) console.error(`bench: ${rtcLinks} WebRTC links`);
    }
    const rtcSeconds = (performance.now() - rtcStarted) / 1000;
    const afterRtc = await settle();
    const webrtc = { links: rtcLinks, failed: rtcFailed, seconds: rtcSeconds, bytesPerLink: (afterRtc - rtcBaseline) / Math.max(1, rtcLinks), error: rtcError };
    return { baselineBytes: baseline, websocket, webrtc, targets: { websocketLinks: websocketLinks >= 5000, webrtcLinks: rtcLinks >= 1000, webrtcBytesPerLinkAtMostHalfMB: webrtc.bytesPerLink <= 0.5 * 1024 * 1024 } };
  } finally {
    for (const close of closers.splice(0)) close();
  }
}

export type LinksResult = Awaited<ReturnType<typeof benchLinks>>;

export function printLinks(r: LinksResult) {
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(3)} MB`;
  console.log(`\nlinks held by one coordinator process (simulated tabs; baseline RSS ${mb(r.baselineBytes)})`);
  console.log(`  WebSocket tabs: ${r.websocket.links} in ${r.websocket.seconds.toFixed(1)} s, ${mb(r.websocket.bytesPerLink)} per link${r.websocket.error ? ` (stopped: ${r.websocket.error})` : ''} (target ≥ 5,000)`);
  console.log(`  WebRTC tabs:    ${r.webrtc.links} in ${r.webrtc.seconds.toFixed(1)} s, ${mb(r.webrtc.bytesPerLink)} per link (data channel + its WebSocket session + signalling); ${r.webrtc.failed} failed to open${r.webrtc.error ? ` (first: ${r.webrtc.error})` : ''} (target ≥ 1,000, ≤ 0.5 MB each)`);
}
