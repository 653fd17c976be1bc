/**
 * The web app's pages: the coordinator answers each with index.html, and the app shell's service worker answers
 * navigations to them (with any query string) from its precache.
 */
export const APP_PAGES = ['/', '/chat', '/network', '/developers'] as const;

/** Whether a navigation's path and query is one of the app's pages (a trailing slash allowed). */
export function isAppPage(pathAndSearch: string): boolean {
  const path = pathAndSearch.split(/[?#]/, 1)[0] ?? '';
  return (APP_PAGES as readonly string[]).includes(path.length > 1 ? path.replace(/\/+$/, '') : path);
}
