import { describe, expect, it } from 'vitest';
import { buildModelFiles } from './model-files.ts';
import { generatorFingerprint } from './model-folder.ts';
import { DOLPHIN_TINY, DOLPHIN_TINY_IMPOSTER, DOLPHIN_TINY_Q4, MODEL_SPECS, TEST_MODEL_SPECS } from './specs.ts';

const filesOf = (spec: typeof DOLPHIN_TINY) => new Map(buildModelFiles(spec).map((f) => [f.path, f.bytes]));

describe('cheater variants of dolphin-tiny', () => {
  const tiny = filesOf(DOLPHIN_TINY);

  it.each(TEST_MODEL_SPECS.map((spec) => ({ spec })))(
    '$spec.id: tokenizer and configs byte-identical to dolphin-tiny, the ONNX graph not',
    ({ spec }) => {
      const files = filesOf(spec);
      expect([...files.keys()]).toEqual([...tiny.keys()]);
      for (const path of ['tokenizer.json', 'tokenizer_config.json', 'config.json', 'generation_config.json']) {
        expect(Buffer.from(files.get(path)!).equals(Buffer.from(tiny.get(path)!)), path).toBe(true);
      }
      expect(Buffer.from(files.get('onnx/model.onnx')!).equals(Buffer.from(tiny.get('onnx/model.onnx')!))).toBe(false);
    },
  );

  it('are test-only models with their own ids and fingerprints', () => {
    expect(TEST_MODEL_SPECS.map((s) => s.id)).toEqual(['dolphin-tiny-imposter', 'dolphin-tiny-q4']);
    expect(MODEL_SPECS.some((s) => TEST_MODEL_SPECS.includes(s))).toBe(false);
    // quantizeBits alone must change the fingerprint, or a stale unquantised folder would pass as up to date.
    const { quantizeBits: _, ...unquantized } = DOLPHIN_TINY_Q4;
    expect(generatorFingerprint(DOLPHIN_TINY_Q4)).not.toBe(generatorFingerprint(unquantized));
    expect(generatorFingerprint(DOLPHIN_TINY_IMPOSTER)).not.toBe(
      generatorFingerprint({ ...DOLPHIN_TINY_IMPOSTER, seed: DOLPHIN_TINY.seed }),
    );
  });
});
