/**
 * The board's live view of a tab, as the scheduler reads it (scheduler.ts's TabCapabilities), and what a model
 * asks of a tab (its JobNeeds sizes). Pure: no clock, no I/O.
 */
import type { ContributorLimits } from '../../src/protocol/tab.ts';
import type { LlamaConfig, ModelManifest } from '../../worker/models/model-bundle.ts';
import type { TabCapabilities } from './scheduler.ts';

/** What capabilitiesOf reads of a tab (coordinator/tabs/tab-registry.ts's Tab has all of it). */
export interface TabView {
  id: string;
  contributorId: string | null;
  backend: 'webgpu' | 'wasm' | null;
  limits: { maxBufferSize: number } | null;
  models: readonly string[];
  cached: readonly string[];
  loadFailed: readonly string[];
  calibration: Readonly<Record<string, number>>;
  speeds: Readonly<Record<string, number>>;
  contributorLimits: ContributorLimits;
  hidden: boolean;
  reputation: number;
}

/** A model's size as the scheduler weighs it: all its files (download, load) and its largest tensor (GPU buffer). */
export interface ModelSize {
  modelBytes: number;
  largestTensorBytes: number;
}

/**
 * The models a tab may be given: those its contributor listed, which it loads on demand; with no list (the
 * default), only the models already in its engine. Not those it failed to load.
 */
export function servableModels(tab: Pick<TabView, 'models' | 'contributorLimits' | 'loadFailed'>): readonly string[] {
  const models = tab.contributorLimits.models ?? tab.models;
  return tab.loadFailed.length === 0 ? models : models.filter((m) => !tab.loadFailed.includes(m));
}

/**
 * The tab as the scheduler sees it, with `work` its assigned jobs (the running one first). Speeds: measured on
 * served jobs of the model, else the calibration run's when the tab loaded it, else unmeasured.
 */
export function capabilitiesOf(tab: TabView, work: TabCapabilities['work']): TabCapabilities {
  return {
    id: tab.id,
    contributorId: tab.contributorId,
    backend: tab.backend,
    maxBufferBytes: tab.limits?.maxBufferSize ?? null,
    loaded: tab.models,
    cached: tab.cached,
    tokensPerSecond: { ...tab.calibration, ...tab.speeds },
    work,
    hidden: tab.hidden,
    paused: tab.contributorLimits.paused,
    allowedModels: servableModels(tab),
    reputation: tab.reputation,
  };
}

/**
 * A catalogue model's size: the sum of its files, and its largest tensor estimated as the token embedding
 * (vocab × hidden, the largest weight of Llama exports) at the export's bytes per parameter (its files over its
 * parameter count when the manifest gives one, at most 4; else 4, fp32: an overestimate for a quantized export).
 */
export function modelSizeOf(model: { manifest: Pick<ModelManifest, 'files' | 'parameters'>; config: Pick<LlamaConfig, 'vocab_size' | 'hidden_size'> }): ModelSize {
  const modelBytes = model.manifest.files.reduce((sum, file) => sum + file.size, 0);
  const parameters = model.manifest.parameters;
  const bytesPerParameter = parameters ? Math.min(4, modelBytes / parameters) : 4;
  return { modelBytes, largestTensorBytes: Math.ceil(bytesPerParameter * model.config.vocab_size * model.config.hidden_size) };
}
