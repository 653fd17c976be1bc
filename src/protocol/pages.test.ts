import { describe, expect, it } from 'vitest';
import { isAppPage } from './pages.ts';

describe('isAppPage', () => {
  it('takes the pages, with a query string or a trailing slash', () => {
    for (const p of ['/', '/?autostart=1&backend=wasm', '/chat', '/chat/', '/network?x=1', '/developers#keys']) expect(isAppPage(p), p).toBe(true);
  });
  it('leaves everything else to the network', () => {
    for (const p of ['/v1/models', '/api/network', '/models/dolphin-tiny/manifest.json', '/widget.js', '/chatter', '/ort/x.wasm', '/peerjs/dolphin/id']) expect(isAppPage(p), p).toBe(false);
  });
});
