/**
 * A model as the runtime needs it: the ONNX graph, its config, and the tokenizer files. The folder layout is
 * Hugging Face's (optimum / transformers.js export), plus our manifest.json listing every file with its size and
 * sha256 so downloads can be cached and verified.
 */
import { z } from 'zod';

export const manifestSchema = z.object({
  id: z.string().min(1),
  parameters: z.number().int().nonnegative().optional(),
  files: z.array(z.object({ path: z.string().min(1), size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
});
export type ModelManifest = z.infer<typeof manifestSchema>;

const tokenIds = z.union([z.number().int(), z.array(z.number().int())]);

export const llamaConfigSchema = z.object({
  model_type: z.string(),
  vocab_size: z.number().int().positive(),
  hidden_size: z.number().int().positive(),
  num_hidden_layers: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  num_key_value_heads: z.number().int().positive(),
  head_dim: z.number().int().positive().optional(),
  max_position_embeddings: z.number().int().positive(),
  eos_token_id: tokenIds.optional(),
  bos_token_id: tokenIds.optional(),
});
export type LlamaConfig = z.infer<typeof llamaConfigSchema>;

export const MODEL_FILES = {
  onnx: 'onnx/model.onnx',
  config: 'config.json',
  generationConfig: 'generation_config.json',
  tokenizer: 'tokenizer.json',
  tokenizerConfig: 'tokenizer_config.json',
} as const;

export interface ModelBundle {
  id: string;
  config: LlamaConfig;
  generationConfig: Record<string, unknown>;
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  onnx: Uint8Array;
}

export function headDim(config: LlamaConfig): number {
  return config.head_dim ?? config.hidden_size / config.num_attention_heads;
}

/** Token ids that end a completion: generation_config's eos first, then config.json's. */
export function eosTokenIds(bundle: Pick<ModelBundle, 'config' | 'generationConfig'>): number[] {
  const raw = bundle.generationConfig['eos_token_id'] ?? bundle.config.eos_token_id;
  const parsed = tokenIds.safeParse(raw);
  if (!parsed.success) return [];
  return Array.isArray(parsed.data) ? parsed.data : [parsed.data];
}

/** Reads a bundle through `read`, which returns a file's bytes by its path inside the model folder. */
export async function readModelBundle(id: string, read: (path: string) => Promise<Uint8Array>): Promise<ModelBundle> {
  const json = async (path: string) => JSON.parse(new TextDecoder().decode(await read(path))) as Record<string, unknown>;
  const [onnx, config, generationConfig, tokenizerJson, tokenizerConfig] = await Promise.all([
    read(MODEL_FILES.onnx),
    json(MODEL_FILES.config),
    json(MODEL_FILES.generationConfig),
    json(MODEL_FILES.tokenizer),
    json(MODEL_FILES.tokenizerConfig),
  ]);
  return { id, config: llamaConfigSchema.parse(config), generationConfig, tokenizerJson, tokenizerConfig, onnx };
}
