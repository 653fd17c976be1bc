/** How the pages write sizes, durations and long ids for people. */

/** "1.5 MB", "820 KB", "12 B": decimal units, as browsers and disks show them. */
export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} KB`;
  return `${Math.round(n)} B`;
}

/** An ISO time as the reader's locale writes a short date and the time to the second. */
export function formatDateTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

/** "2 h 5 min", "3 min 20 s", "14 s". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  if (s >= 60) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${s} s`;
}

/** A long id (a contributor's 40 hex digits) cut to its first 10 characters; "—" for none. */
export function shortId(id: string | null): string {
  if (id === null) return '—';
  return id.length > 12 ? `${id.slice(0, 10)}…` : id;
}
