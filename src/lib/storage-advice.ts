/**
 * Whether this browser can keep a model: the origin's storage quota against what the model still needs, and whether
 * the browser promised not to evict it (`navigator.storage.persist()`). The pure part decides; `readStorage` asks
 * the browser.
 */
import { formatBytes } from './format.ts';

export interface StorageState {
  /** Bytes this origin uses and may use (`navigator.storage.estimate()`); null where the browser cannot say. */
  usage: number | null;
  quota: number | null;
  /** Whether the browser keeps this origin's storage under pressure; null where it cannot say. */
  persisted: boolean | null;
}

export interface StorageAdvice {
  /** Quota left; null when unknown. */
  freeBytes: number | null;
  /** True when the model's bytes not yet cached do not fit in what is left. */
  short: boolean;
  /** What to tell the contributor when `short` (else null). */
  message: string | null;
}

/** `missingBytes`: what the chosen model still has to download (its size minus what the cache holds). */
export function storageAdvice(state: StorageState, missingBytes: number): StorageAdvice {
  if (state.usage === null || state.quota === null) return { freeBytes: null, short: false, message: null };
  const freeBytes = Math.max(0, state.quota - state.usage);
  const short = missingBytes > freeBytes;
  return {
    freeBytes,
    short,
    message: short
      ? `Not enough storage for this model: it needs ${formatBytes(missingBytes)} more, and this browser lets the site keep only ${formatBytes(freeBytes)} more. Free disk space, clear other sites' data, or choose a smaller model.`
      : null,
  };
}

/** Reads the quota; with `askToPersist`, first asks the browser to keep the storage (it may prompt or decline). */
export async function readStorage(askToPersist: boolean): Promise<StorageState> {
  const storage = typeof navigator !== 'undefined' ? navigator.storage : undefined;
  if (!storage?.estimate) return { usage: null, quota: null, persisted: null };
  const persisted = askToPersist && storage.persist ? await storage.persist().catch(() => null) : storage.persisted ? await storage.persisted().catch(() => null) : null;
  const estimate = await storage.estimate().catch(() => ({}) as StorageEstimate);
  return { usage: estimate.usage ?? null, quota: estimate.quota ?? null, persisted };
}
