import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelFolderResult } from './index.ts';
import { makeModels } from './index.ts';
import { filesMatchManifest, MANIFEST_FILE, readManifest, sha256Hex } from './model-folder.ts';
import { MODEL_SPECS, parameterCount } from './specs.ts';
import { makeWeights } from './weights.ts';

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dolphin-models-'));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((p) => statSync(join(dir, p)).isFile())
    .map((p) => relative(dir, join(dir, p)).split('\\').join('/'))
    .sort();
}

function hashes(dir: string): Record<string, string> {
  return Object.fromEntries(listFiles(dir).map((p) => [p, sha256Hex(readFileSync(join(dir, p)))]));
}

describe('makeModels', () => {
  const first = tempDir();
  const second = tempDir();
  let firstRun: ModelFolderResult[] = [];
  let secondRun: ModelFolderResult[] = [];
  beforeAll(() => {
    firstRun = makeModels({ outDir: first });
    secondRun = makeModels({ outDir: second });
  });

  it('writes byte-identical folders on every run', () => {
    expect(firstRun.map((r) => r.written)).toEqual(MODEL_SPECS.map(() => true));
    expect(secondRun.map((r) => r.written)).toEqual(MODEL_SPECS.map(() => true));
    expect(hashes(second)).toEqual(hashes(first));
  });

  it.each(MODEL_SPECS.map((spec) => ({ spec })))('$spec.id manifest lists every other file', ({ spec }) => {
    const dir = join(first, spec.id);
    const manifest = readManifest(dir);
    expect(manifest?.id).toBe(spec.id);
    expect(manifest?.files.map((f) => f.path).sort()).toEqual(listFiles(dir).filter((p) => p !== MANIFEST_FILE));
    for (const f of manifest?.files ?? []) {
      const bytes = readFileSync(join(dir, f.path));
      expect({ size: bytes.length, sha256: sha256Hex(bytes) }).toEqual({ size: f.size, sha256: f.sha256 });
    }
  });

  it.each(MODEL_SPECS.map((spec) => ({ spec })))(
    '$spec.id parameter count equals the weights generated',
    ({ spec }) => {
      const w = makeWeights(spec);
      const counted =
        w.embedTokens.length +
        w.finalNorm.length +
        w.lmHead.length +
        w.layers.reduce((sum, l) => sum + Object.values(l).reduce((s, t: Float32Array) => s + t.length, 0), 0);
      expect(parameterCount(spec)).toBe(counted);
      expect(readManifest(join(first, spec.id))?.parameters).toBe(counted);
    },
  );

  it('skips up-to-date folders, and rewrites damaged ones or on force', () => {
    const again = makeModels({ outDir: first });
    expect(again.map((r) => r.written)).toEqual(MODEL_SPECS.map(() => false));

    const tiny = join(first, 'dolphin-tiny');
    const before = hashes(tiny);
    writeFileSync(join(tiny, 'config.json'), '{}');
    const manifest = readManifest(tiny);
    expect(manifest && filesMatchManifest(tiny, manifest)).toBe(false);
    const repaired = makeModels({ outDir: first });
    expect(repaired.map((r) => [r.id, r.written])).toEqual(MODEL_SPECS.map((s) => [s.id, s.id === 'dolphin-tiny']));
    expect(hashes(tiny)).toEqual(before);

    expect(makeModels({ outDir: first, force: true }).map((r) => r.written)).toEqual(MODEL_SPECS.map(() => true));
  });
});
