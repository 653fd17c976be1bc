/**
 * The network page's connection to `GET /api/network/live` (Server-Sent Events). The browser's EventSource
 * reconnects a dropped stream by itself (after the server's `retry`); when it gives up (an answer that is not a
 * stream, e.g. 429 or 503), this opens a new one after a growing delay. Every connection starts with a `history`
 * event, so nothing is lost across a reconnection but the samples taken while away.
 */
import type { NetworkHistoryEvent, NetworkSampleEvent } from '../protocol/network.ts';
import { parseEvent } from './network-live.ts';

export type StreamState = 'connecting' | 'live' | 'reconnecting';

export interface NetworkStreamHandlers {
  history(event: NetworkHistoryEvent): void;
  sample(event: NetworkSampleEvent): void;
  state(state: StreamState): void;
}

/** The part of EventSource used here, so tests can pass their own. */
export interface EventSourceLike {
  readyState: number;
  onerror: ((event: Event) => void) | null;
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void): void;
  close(): void;
}

export interface NetworkStreamOptions {
  url?: string;
  open?: (url: string) => EventSourceLike;
  /** Delay before the first new connection after the browser gave up; doubles up to maxRetryMs. */
  retryMs?: number;
  maxRetryMs?: number;
  setTimer?: (run: () => void, ms: number) => unknown;
  clearTimer?: (timer: unknown) => void;
}

const CLOSED = 2;

/** Connects and keeps connected until the returned function is called. */
export function connectNetworkStream(handlers: NetworkStreamHandlers, options: NetworkStreamOptions = {}): () => void {
  const url = options.url ?? '/api/network/live';
  const open = options.open ?? ((u: string) => new EventSource(u) as unknown as EventSourceLike);
  const setTimer = options.setTimer ?? ((run: () => void, ms: number) => setTimeout(run, ms));
  const clearTimer = options.clearTimer ?? ((t: unknown) => clearTimeout(t as ReturnType<typeof setTimeout>));
  const maxRetryMs = options.maxRetryMs ?? 30_000;
  let retryMs = options.retryMs ?? 1000;
  let source: EventSourceLike | null = null;
  let timer: unknown = null;
  let stopped = false;

  const connect = () => {
    timer = null;
    if (stopped) return;
    const s = open(url);
    source = s;
    s.addEventListener('history', (e) => {
      const event = parseEvent('history', e.data);
      if (!event) return;
      retryMs = options.retryMs ?? 1000;
      handlers.history(event);
      handlers.state('live');
    });
    s.addEventListener('sample', (e) => {
      const event = parseEvent('sample', e.data);
      if (event) handlers.sample(event);
    });
    s.onerror = () => {
      if (stopped || source !== s) return;
      handlers.state('reconnecting');
      if (s.readyState !== CLOSED) return; // the browser reconnects by itself
      s.close();
      source = null;
      timer = setTimer(connect, retryMs);
      retryMs = Math.min(maxRetryMs, retryMs * 2);
    };
  };

  handlers.state('connecting');
  connect();
  return () => {
    stopped = true;
    if (timer !== null) clearTimer(timer);
    source?.close();
    source = null;
  };
}
