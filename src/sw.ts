/// <reference lib="webworker" />
/**
 * The app shell's service worker (built to /sw.js by scripts/build-service-worker.ts; registered by
 * src/lib/app-update.ts through workbox-window). It precaches the shell — index.html and the built assets, listed
 * with their revisions by workbox-build at build time — so every page opens offline, and answers the pages'
 * navigations with the precached index.html. Everything else (the API, the tab link, model files, onnxruntime's
 * wasm) goes to the network untouched: model files keep their own cache (worker/models/model-download.ts).
 *
 * Updates: a new build installs beside the old one and waits; the page offers a reload, which sends SKIP_WAITING.
 * Old precaches are removed once the new worker activates.
 */
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from 'workbox-precaching';
import { registerRoute } from 'workbox-routing';
import { clientsClaim } from 'workbox-core';
import { isAppPage } from './protocol/pages.ts';

declare const self: ServiceWorkerGlobalScope & { __WB_MANIFEST: Array<{ url: string; revision: string | null }> };

precacheAndRoute(self.__WB_MANIFEST);
cleanupOutdatedCaches();
registerRoute(({ request, url }) => request.mode === 'navigate' && isAppPage(url.pathname + url.search), createHandlerBoundToURL('index.html'));

// The first install takes over open pages at once (there is no older version to wait for); later ones wait.
clientsClaim();
self.addEventListener('message', (event) => {
  if ((event.data as { type?: unknown } | null)?.type === 'SKIP_WAITING') void self.skipWaiting();
});
