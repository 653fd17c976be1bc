/**
 * How many threads onnxruntime-web's WASM backend runs with in a contributor tab.
 *
 * Every logical core but one, at most MAX_WASM_THREADS: the spare core keeps the page (which relays tokens), the
 * browser and the contributor's machine responsive. onnxruntime-web's thread pool spins while it waits, so a pool
 * as large as the machine slows down as soon as anything else runs — measured with `npm run bench` on two cores,
 * a two-thread tab decoded 0.72× as fast through the network as when called directly, a one-thread tab 0.99×.
 * `?threads=` on the contribute page sets the number. Threads need cross-origin isolation (SharedArrayBuffer);
 * without it the WASM backend is single-threaded whatever is asked.
 */
export const MAX_WASM_THREADS = 8;
const MAX_REQUESTED_THREADS = 64;

export function wasmThreadCount(opts: { requested?: number | undefined; hardwareConcurrency: number; crossOriginIsolated: boolean }): number {
  if (!opts.crossOriginIsolated) return 1;
  if (opts.requested !== undefined && Number.isInteger(opts.requested) && opts.requested >= 1) return Math.min(opts.requested, MAX_REQUESTED_THREADS);
  const cores = Number.isInteger(opts.hardwareConcurrency) && opts.hardwareConcurrency >= 1 ? opts.hardwareConcurrency : 1;
  return Math.max(1, Math.min(cores - 1, MAX_WASM_THREADS));
}
