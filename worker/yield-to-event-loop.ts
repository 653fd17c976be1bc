/**
 * Lets queued events (a `cancel` from the page, comlink messages) run between generation steps. onnxruntime-web
 * can finish a step without ever returning to the event loop, so without this a running job cannot be cancelled.
 * A MessageChannel round trip queues behind messages already waiting (unlike `scheduler.yield()`, whose
 * continuation jumps ahead of them, and unlike setTimeout, which is clamped to 4 ms); Node uses setImmediate.
 */
export function yieldToEventLoop(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}
