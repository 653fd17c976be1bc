/**
 * Registers the app shell's service worker (src/sw.ts, built to /sw.js) through workbox-window, and tells the page
 * when a new version is installed and waiting. Applying it asks the waiting worker to take over and reloads once
 * it controls the page, so a contributor's tab never switches versions under a running job by itself.
 */
import { Workbox } from 'workbox-window';

export interface AppUpdates {
  /** Takes the waiting version and reloads the page once it is in control. */
  apply(): void;
}

/** `onWaiting` runs when a new version waits to take over. Does nothing where service workers are unavailable. */
export function registerAppShell(onWaiting: () => void): AppUpdates | null {
  if (!('serviceWorker' in navigator)) return null;
  const wb = new Workbox('/sw.js');
  wb.addEventListener('waiting', onWaiting);
  void wb.register().catch((e: unknown) => console.warn(`the app shell will not work offline: ${e instanceof Error ? e.message : String(e)}`));
  return {
    apply() {
      wb.addEventListener('controlling', () => location.reload());
      wb.messageSkipWaiting();
    },
  };
}
