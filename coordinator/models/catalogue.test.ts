import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalogue, modelDirList } from './catalogue.ts';

let root: string;

/** A minimal folder the catalogue accepts: manifest.json (declaring `id`) and config.json. */
async function modelFolder(dir: string, id: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const config = { model_type: 'llama', vocab_size: 32, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 64 };
  await writeFile(join(dir, 'manifest.json'), JSON.stringify({ id, files: [] }));
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dolphin-catalogue-'));
  await modelFolder(join(root, 'models', 'tiny'), 'tiny');
  await modelFolder(join(root, 'models', 'small'), 'small');
  await modelFolder(join(root, 'test-models', 'tiny-q4'), 'tiny-q4');
  await modelFolder(join(root, 'test-models', 'tiny'), 'tiny'); // shadowed by models/tiny
  await mkdir(join(root, 'test-models', 'broken'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('loadCatalogue', () => {
  it('reads one directory', async () => {
    const catalogue = await loadCatalogue(join(root, 'models'));
    expect(catalogue.list().map((m) => m.id)).toEqual(['small', 'tiny']);
    expect(catalogue.get('tiny')?.dir).toBe(join(root, 'models', 'tiny'));
  });

  it('reads a list of directories; the first directory wins a duplicate id, and says so', async () => {
    const logged: string[] = [];
    const catalogue = await loadCatalogue([join(root, 'models'), join(root, 'test-models'), join(root, 'missing')], (m) => logged.push(m));
    expect([...catalogue.ids()].sort()).toEqual(['small', 'tiny', 'tiny-q4']);
    expect(catalogue.get('tiny')?.dir).toBe(join(root, 'models', 'tiny'));
    expect(catalogue.get('tiny-q4')?.dir).toBe(join(root, 'test-models', 'tiny-q4'));
    expect(logged).toHaveLength(2);
    expect(logged.find((m) => m.includes('broken'))).toMatch(/^skipping .*broken/);
    expect(logged.find((m) => m.includes('already served'))).toBe(
      `skipping ${join(root, 'test-models', 'tiny')}: model tiny is already served from ${join(root, 'models', 'tiny')}`,
    );
  });
});

describe('modelDirList', () => {
  it('splits on the platform delimiter and drops empty entries', () => {
    expect(modelDirList('models')).toEqual(['models']);
    expect(modelDirList(['models', '', 'test-models', ''].join(delimiter))).toEqual(['models', 'test-models']);
  });
});
