/**
 * Generates the models: `tsx scripts/make-models.ts [--out <dir>] [--test-out <dir>] [--force] [--only <id>]...`.
 * MODEL_SPECS go to --out (default `<repo>/models`, served by the coordinator), TEST_MODEL_SPECS (the cheater
 * variants for trust tests) to --test-out (default `<repo>/test-models`); --only picks ids from either list.
 * Idempotent: folders whose manifest matches are left untouched (see model-maker/model-folder.ts).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { LlamaSpec } from './model-maker/index.ts';
import { DEFAULT_MODELS_DIR, DEFAULT_TEST_MODELS_DIR, MODEL_SPECS, TEST_MODEL_SPECS, makeModels } from './model-maker/index.ts';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    'test-out': { type: 'string' },
    force: { type: 'boolean', default: false },
    only: { type: 'string', multiple: true },
  },
});

const only = values.only;
const known = [...MODEL_SPECS, ...TEST_MODEL_SPECS].map((s) => s.id);
const unknown = (only ?? []).filter((id) => !known.includes(id));
if (unknown.length > 0) {
  console.error(`unknown model id(s): ${unknown.join(', ')}; known: ${known.join(', ')}`);
  process.exit(2);
}
const pick = (specs: readonly LlamaSpec[]) => (only ? specs.filter((s) => only.includes(s.id)) : specs);

const targets = [
  { outDir: values.out === undefined ? DEFAULT_MODELS_DIR : resolve(values.out), specs: pick(MODEL_SPECS) },
  { outDir: values['test-out'] === undefined ? DEFAULT_TEST_MODELS_DIR : resolve(values['test-out']), specs: pick(TEST_MODEL_SPECS) },
];
for (const { outDir, specs } of targets) {
  for (const r of makeModels({ outDir, force: values.force, specs })) {
    const bytes = r.manifest.files.reduce((sum, f) => sum + f.size, 0);
    const what = r.written ? 'wrote' : 'up to date';
    const size = `${(bytes / 1e6).toFixed(2)} MB`;
    const params = `${(r.manifest.parameters / 1e6).toFixed(3)}M params`;
    console.log(
      `${r.id}: ${what} ${r.dir} (${params}, ${size}, ${r.manifest.files.length} files, ${r.elapsedMs.toFixed(0)} ms)`,
    );
  }
}
