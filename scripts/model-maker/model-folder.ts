/**
 * Writes one model folder plus `manifest.json`, or leaves it alone when it is already up to date.
 *
 * Up to date means: the manifest's `generator` fingerprint equals the current one (a hash of the spec and of
 * this generator's source files, so editing the generator regenerates) and every listed file exists with the
 * recorded size and sha256. Checking costs one hash pass over the files, not a regeneration.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelFile } from './model-files.ts';
import { buildModelFiles, jsonFile } from './model-files.ts';
import type { LlamaSpec } from './specs.ts';
import { parameterCount } from './specs.ts';

export interface ManifestFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export interface Manifest {
  readonly id: string;
  /** Every file in the folder except manifest.json itself. */
  readonly files: readonly ManifestFile[];
  readonly parameters: number;
  /** sha256 of the spec and the generator sources that produced the files. */
  readonly generator: string;
}

export interface ModelFolderResult {
  readonly id: string;
  readonly dir: string;
  /** False when the folder was already up to date and nothing was touched. */
  readonly written: boolean;
  readonly manifest: Manifest;
  readonly elapsedMs: number;
}

export const MANIFEST_FILE = 'manifest.json';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Hash of the whole spec (every field, e.g. `quantizeBits`, so variants of one model never pass for each other)
 * plus this directory's .ts sources, tests and test helpers excluded (sorted by name).
 */
export function generatorFingerprint(spec: LlamaSpec): string {
  const sourceDir = dirname(fileURLToPath(import.meta.url));
  const hash = createHash('sha256').update(JSON.stringify(spec));
  const sources = readdirSync(sourceDir)
    .filter((f) => f.endsWith('.ts') && !f.includes('.test'))
    .sort();
  for (const file of sources) hash.update(`\0${file}\0`).update(readFileSync(join(sourceDir, file)));
  return hash.digest('hex');
}

export function readManifest(dir: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
}

/** True when every file the manifest lists exists with its recorded size and sha256. */
export function filesMatchManifest(dir: string, manifest: Manifest): boolean {
  return manifest.files.every((f) => {
    const path = join(dir, f.path);
    if (!existsSync(path)) return false;
    const bytes = readFileSync(path);
    return bytes.length === f.size && sha256Hex(bytes) === f.sha256;
  });
}

export function writeModelFolder(
  outDir: string,
  spec: LlamaSpec,
  options: { force?: boolean } = {},
): ModelFolderResult {
  const started = performance.now();
  const dir = join(outDir, spec.id);
  const generator = generatorFingerprint(spec);
  const existing = readManifest(dir);
  if (
    !options.force &&
    existing?.id === spec.id &&
    existing.generator === generator &&
    filesMatchManifest(dir, existing)
  ) {
    return { id: spec.id, dir, written: false, manifest: existing, elapsedMs: performance.now() - started };
  }
  const files = buildModelFiles(spec);
  const manifest = manifestFor(spec, files, generator);
  // Build the folder beside the target and swap it in, so concurrent runs (parallel test workers) and
  // interrupted runs never leave a torn folder behind; no stale file from an older layout survives.
  const staging = join(outDir, `.${spec.id}.tmp-${process.pid}-${randomUUID()}`);
  try {
    for (const f of [...files, jsonFile(MANIFEST_FILE, manifest)]) {
      const path = join(staging, f.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, f.bytes);
    }
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
  } catch (error) {
    // Losing the race to another writer of the same content is fine.
    const winner = readManifest(dir);
    if (winner?.generator !== generator || !filesMatchManifest(dir, winner)) throw error;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return { id: spec.id, dir, written: true, manifest, elapsedMs: performance.now() - started };
}

export function manifestFor(spec: LlamaSpec, files: readonly ModelFile[], generator: string): Manifest {
  return {
    id: spec.id,
    files: files.map((f) => ({ path: f.path, size: f.bytes.length, sha256: sha256Hex(f.bytes) })),
    parameters: parameterCount(spec),
    generator,
  };
}
