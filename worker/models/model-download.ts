/**
 * Downloads a model folder from the coordinator (`/models/<id>/...`) with byte-level progress and keeps every
 * file in the Cache API under a key that includes its sha256, so a reload serves it from the cache and a changed
 * model is fetched again. Files are checked against the manifest's size and hash before they are cached.
 */
import { manifestSchema, readModelBundle, type ModelBundle, type ModelManifest } from './model-bundle.ts';

export const MODEL_CACHE_NAME = 'dolphin-models-v1';

export interface DownloadProgress {
  modelId: string;
  loadedBytes: number;
  totalBytes: number;
  /** Bytes of the total that came from the cache rather than the network. */
  cachedBytes: number;
}

export interface DownloadOptions {
  /** Origin (and path prefix) of the coordinator, e.g. `location.origin`. */
  baseUrl: string;
  modelId: string;
  /** null = no persistent cache (e.g. Node, or the Cache API is unavailable). */
  cache: Cache | null;
  onProgress?: (progress: DownloadProgress) => void;
  fetch?: typeof fetch;
  /** Stops the download (between files, and the file being fetched); it then rejects with the signal's reason. */
  signal?: AbortSignal;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function readWithProgress(response: Response, onChunk: (n: number) => void): Promise<Uint8Array> {
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    length += value.length;
    onChunk(value.length);
  }
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

export async function fetchManifest(options: DownloadOptions): Promise<ModelManifest> {
  const doFetch = options.fetch ?? fetch;
  const url = `${options.baseUrl}/models/${encodeURIComponent(options.modelId)}/manifest.json`;
  const response = await doFetch(url, { cache: 'no-cache' });
  if (!response.ok) throw new Error(`model ${options.modelId}: manifest returned HTTP ${response.status}`);
  return manifestSchema.parse(await response.json());
}

export async function downloadModel(options: DownloadOptions): Promise<ModelBundle> {
  const { baseUrl, modelId, cache, onProgress } = options;
  const doFetch = options.fetch ?? fetch;
  const manifest = await fetchManifest(options);
  const progress: DownloadProgress = { modelId, loadedBytes: 0, totalBytes: manifest.files.reduce((n, f) => n + f.size, 0), cachedBytes: 0 };
  onProgress?.({ ...progress });
  const files = new Map<string, Uint8Array>();

  for (const file of manifest.files) {
    options.signal?.throwIfAborted();
    const url = `${baseUrl}/models/${encodeURIComponent(modelId)}/${file.path}`;
    const cacheKey = `${url}?sha256=${file.sha256}`;
    const cached = await cache?.match(cacheKey);
    let bytes: Uint8Array;
    if (cached) {
      bytes = new Uint8Array(await cached.arrayBuffer());
      progress.cachedBytes += bytes.length;
      progress.loadedBytes += bytes.length;
      onProgress?.({ ...progress });
    } else {
      const response = await doFetch(url, options.signal ? { signal: options.signal } : undefined);
      if (!response.ok) throw new Error(`model ${modelId}: ${file.path} returned HTTP ${response.status}`);
      bytes = await readWithProgress(response, (n) => {
        progress.loadedBytes += n;
        onProgress?.({ ...progress });
      });
    }
    if (bytes.length !== file.size || (await sha256Hex(bytes)) !== file.sha256) {
      await cache?.delete(cacheKey);
      throw new Error(`model ${modelId}: ${file.path} does not match its manifest (size or sha256)`);
    }
    if (!cached) await cache?.put(cacheKey, new Response(bytes as Uint8Array<ArrayBuffer>));
    files.set(file.path, bytes);
  }

  return readModelBundle(modelId, async (path) => {
    const bytes = files.get(path);
    if (!bytes) throw new Error(`model ${modelId}: manifest does not list ${path}`);
    return bytes;
  });
}
