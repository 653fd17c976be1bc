/** transformers-style `config.json` and `generation_config.json` for a LlamaSpec. */
import type { LlamaSpec } from './specs.ts';
import { specialTokenIds, vocabSize } from './specs.ts';

export function modelConfig(spec: LlamaSpec): Record<string, unknown> {
  const ids = specialTokenIds(spec);
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    attention_bias: false,
    attention_dropout: 0,
    mlp_bias: false,
    hidden_act: 'silu',
    hidden_size: spec.hiddenSize,
    intermediate_size: spec.intermediateSize,
    num_attention_heads: spec.numHeads,
    num_key_value_heads: spec.numKvHeads,
    num_hidden_layers: spec.numLayers,
    head_dim: spec.headDim,
    vocab_size: vocabSize(spec),
    max_position_embeddings: spec.maxPositions,
    rms_norm_eps: spec.rmsNormEps,
    rope_theta: spec.ropeTheta,
    rope_scaling: null,
    bos_token_id: ids.endOfText,
    eos_token_id: ids.imEnd,
    pad_token_id: ids.endOfText,
    tie_word_embeddings: false,
    torch_dtype: 'float32',
    use_cache: true,
    'transformers.js_config': { dtype: 'fp32', use_external_data_format: false },
  };
}

export function generationConfig(spec: LlamaSpec): Record<string, unknown> {
  const ids = specialTokenIds(spec);
  return {
    bos_token_id: ids.endOfText,
    eos_token_id: ids.imEnd,
    pad_token_id: ids.endOfText,
    max_length: spec.maxPositions,
  };
}
