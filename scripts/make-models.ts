/**
 * Generates the test models: `tsx scripts/make-models.ts [--out <dir>] [--force] [--only <id>]`.
 * Idempotent: folders whose manifest matches are left untouched (see model-maker/model-folder.ts).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_MODELS_DIR, MODEL_SPECS, makeModels } from './model-maker/index.ts';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    force: { type: 'boolean', default: false },
    only: { type: 'string', multiple: true },
  },
});

const only = values.only;
const specs = only ? MODEL_SPECS.filter((s) => only.includes(s.id)) : MODEL_SPECS;
const unknown = (only ?? []).filter((id) => !MODEL_SPECS.some((s) => s.id === id));
if (unknown.length > 0) {
  console.error(`unknown model id(s): ${unknown.join(', ')}; known: ${MODEL_SPECS.map((s) => s.id).join(', ')}`);
  process.exit(2);
}

const outDir = values.out === undefined ? DEFAULT_MODELS_DIR : resolve(values.out);
for (const r of makeModels({ outDir, force: values.force, specs })) {
  const bytes = r.manifest.files.reduce((sum, f) => sum + f.size, 0);
  const what = r.written ? 'wrote' : 'up to date';
  const size = `${(bytes / 1e6).toFixed(2)} MB`;
  const params = `${(r.manifest.parameters / 1e6).toFixed(3)}M params`;
  console.log(
    `${r.id}: ${what} ${r.dir} (${params}, ${size}, ${r.manifest.files.length} files, ${r.elapsedMs.toFixed(0)} ms)`,
  );
}
