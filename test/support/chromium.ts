/**
 * How tests and benchmarks launch Chromium: the system's Debian build (Playwright cannot download browsers here),
 * with WebGPU enabled (SwiftShader when there is no GPU) and no background traffic.
 */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const chromiumArgs = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  // WebRTC on loopback: Chromium gathers 127.0.0.1 candidates only with these (no media permission prompt).
  '--allow-loopback-in-peer-connection',
  '--use-fake-ui-for-media-stream',
  // Tabs in the background must keep serving at full speed.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];
