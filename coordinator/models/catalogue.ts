/**
 * The models this network serves: every folder under the models directory that has a manifest.json (written by
 * scripts/make-models.ts, or by whoever adds a real model export). Read once at start-up.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { llamaConfigSchema, manifestSchema, type LlamaConfig, type ModelManifest } from '../../worker/models/model-bundle.ts';

export interface CatalogueModel {
  id: string;
  dir: string;
  /** Unix seconds: when the model folder was written. */
  created: number;
  manifest: ModelManifest;
  config: LlamaConfig;
}

export interface ModelCatalogue {
  list(): CatalogueModel[];
  get(id: string): CatalogueModel | undefined;
  ids(): ReadonlySet<string>;
}

export async function loadCatalogue(modelsDir: string, log: (message: string) => void = () => {}): Promise<ModelCatalogue> {
  const models = new Map<string, CatalogueModel>();
  const entries = await readdir(modelsDir, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const dir = join(modelsDir, entry.name);
    const manifestPath = join(dir, 'manifest.json');
    try {
      const manifest = manifestSchema.parse(JSON.parse(await readFile(manifestPath, 'utf8')));
      const config = llamaConfigSchema.parse(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')));
      const created = Math.floor((await stat(manifestPath)).mtimeMs / 1000);
      models.set(manifest.id, { id: manifest.id, dir, created, manifest, config });
    } catch (error) {
      log(`skipping ${dir}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
    }
  }
  const ids = new Set(models.keys());
  return {
    list: () => [...models.values()].sort((a, b) => a.id.localeCompare(b.id)),
    get: (id) => models.get(id),
    ids: () => ids,
  };
}
