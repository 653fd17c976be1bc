/**
 * Registers the app shell's service worker (src/sw.ts, built to /sw.js) through workbox-window, and tells the page
 * when a new version is ready: installed and waiting, or already taken over from another tab (which applied it
 * there). Nothing reloads by itself: a contributor's tab keeps its running job until the person chooses to reload.
 */
import { Workbox } from 'workbox-window';

export interface AppUpdates {
  /** Reloads into the new version: first lets a waiting one take over, when one waits. */
  apply(): void;
}

/** `onReady` runs when a new version can be reloaded into. Does nothing where service workers are unavailable. */
export function registerAppShell(onReady: () => void): AppUpdates | null {
  if (!('serviceWorker' in navigator)) return null;
  const wb = new Workbox('/sw.js');
  let registration: ServiceWorkerRegistration | undefined;
  wb.addEventListener('waiting', onReady);
  // Another tab applied the update: this page now runs under the new worker with the old code until it reloads.
  wb.addEventListener('controlling', (event) => {
    if (event.isExternal) onReady();
  });
  void wb.register().then(
    (r) => (registration = r),
    (e: unknown) => console.warn(`the app shell will not work offline: ${e instanceof Error ? e.message : String(e)}`),
  );
  return {
    apply() {
      if (!registration?.waiting) return location.reload();
      wb.addEventListener('controlling', () => location.reload());
      wb.messageSkipWaiting();
    },
  };
}
