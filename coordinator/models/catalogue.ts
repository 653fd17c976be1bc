/**
 * The models this network serves: every folder under the models directories that has a manifest.json (written by
 * scripts/make-models.ts, or by whoever adds a real model export). Read once at start-up.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { llamaConfigSchema, manifestSchema, MODEL_FILES, type LlamaConfig, type ModelManifest } from '../../worker/models/model-bundle.ts';
import { createChatTokenizer, type ChatTokenizer } from '../../worker/text/chat-tokenizer.ts';

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

/** Splits a `MODELS_DIR`-style list (entries separated by `path.delimiter`, ':' on POSIX); empty entries are dropped. */
export function modelDirList(value: string): string[] {
  return value.split(delimiter).filter((dir) => dir !== '');
}

/**
 * Reads every model folder in `modelsDirs` (one directory or several, in order). A missing directory holds no
 * models; a folder with a bad manifest or config is skipped and logged; when two folders declare the same model
 * id the first one read wins (earlier directory, then folder name order) and the other is logged.
 */
export async function loadCatalogue(modelsDirs: string | readonly string[], log: (message: string) => void = () => {}): Promise<ModelCatalogue> {
  const models = new Map<string, CatalogueModel>();
  for (const modelsDir of typeof modelsDirs === 'string' ? [modelsDirs] : modelsDirs) {
    const entries = await readdir(modelsDir, { withFileTypes: true }).catch(() => []);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      const model = await readModelFolder(join(modelsDir, entry.name), log);
      if (!model) continue;
      const first = models.get(model.id);
      if (first) log(`skipping ${model.dir}: model ${model.id} is already served from ${first.dir}`);
      else models.set(model.id, model);
    }
  }
  const ids = new Set(models.keys());
  return {
    list: () => [...models.values()].sort((a, b) => a.id.localeCompare(b.id)),
    get: (id) => models.get(id),
    ids: () => ids,
  };
}

async function readModelFolder(dir: string, log: (message: string) => void): Promise<CatalogueModel | undefined> {
  const manifestPath = join(dir, 'manifest.json');
  try {
    const manifest = manifestSchema.parse(JSON.parse(await readFile(manifestPath, 'utf8')));
    const config = llamaConfigSchema.parse(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')));
    const created = Math.floor((await stat(manifestPath)).mtimeMs / 1000);
    return { id: manifest.id, dir, created, manifest, config };
  } catch (error) {
    log(`skipping ${dir}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
    return undefined;
  }
}

/** The model's tokenizer and chat template, from its folder: what tabs use, so the coordinator can check their text. */
export async function loadTokenizer(model: CatalogueModel): Promise<ChatTokenizer> {
  const json = async (path: string) => JSON.parse(await readFile(join(model.dir, path), 'utf8')) as Record<string, unknown>;
  const [tokenizerJson, tokenizerConfig] = await Promise.all([json(MODEL_FILES.tokenizer), json(MODEL_FILES.tokenizerConfig)]);
  return createChatTokenizer(tokenizerJson, tokenizerConfig);
}
