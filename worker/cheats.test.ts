/**
 * The test-only cheating modes (issue #4) on the real generated tiny model (onnxruntime-node): each changes the
 * transcript the way it says, the honest path is unchanged, and re-scoring rejects what each cheat claims.
 */
import { VERIFICATION_TOLERANCES } from '../coordinator/trust/tolerances.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNodeModel } from '../test/support/node-model.ts';
import { runChatTask, type ChatTask, type LoadedModel } from './runtime.ts';
import { createCheat, LOGPROB_SHIFT, modelFolder, type Cheat } from './cheats.ts';
import { rescore, type RescoreClaim } from './verify/rescore.ts';
import type { Tolerances } from './verify/judge.ts';
import type { GeneratedToken } from './generate.ts';
import type { SamplingParams } from '../src/protocol/tab.ts';
import { cheatModeSchema } from '../src/protocol/worker.ts';

const TOLERANCES: Tolerances = VERIFICATION_TOLERANCES;
const params = (p: Partial<SamplingParams> = {}): SamplingParams => ({
  maxTokens: 24,
  temperature: 0.8,
  topP: 0.95,
  topK: 0,
  stop: [],
  seed: 7,
  topLogprobs: 0,
  ...p,
});
const task = (p: Partial<SamplingParams> = {}, content = 'Tell me about dolphins and the sea.'): ChatTask => ({
  messages: [{ role: 'user', content }],
  params: params(p),
});

let model: LoadedModel;
beforeAll(async () => {
  model = await loadNodeModel('dolphin-tiny');
});
afterAll(() => model?.engine.dispose());

interface Run {
  tokens: GeneratedToken[];
  ids: number[];
  claim: RescoreClaim;
  finishReason: 'stop' | 'length';
  completionTokens: number;
  text: string;
}

/** Runs `t` honestly, or as `cheat` does; `claim` is what the tab's transcript says (always the task as given). */
async function run(t: ChatTask, cheat?: Cheat, on: LoadedModel = model): Promise<Run> {
  const tokens: GeneratedToken[] = [];
  const result = await (cheat?.runChatTask ?? runChatTask)(on, t, (token) => tokens.push(token));
  const claimed = tokens.map(({ id, logprob }) => ({ id, logprob }));
  return {
    tokens,
    ids: tokens.map((token) => token.id),
    claim: { ...t, tokens: claimed, finishReason: result.finishReason, completionTokens: result.completionTokens },
    finishReason: result.finishReason,
    completionTokens: result.completionTokens,
    text: result.text,
  };
}

const verdictOf = (r: Run) => rescore(model, r.claim, TOLERANCES);

describe('honest path', () => {
  it('is unchanged by modes that do not touch generation, and passes re-scoring', async () => {
    const honest = await run(task());
    expect(honest.ids.length).toBe(24); // the seed is chosen so that the honest run goes to max_tokens
    expect(honest.finishReason).toBe('length');
    for (const mode of ['other-model', 'rounded-weights', 'approve-everything', 'reject-everything'] as const)
      expect((await run(task(), createCheat(mode))).tokens).toEqual(honest.tokens);
    expect(await verdictOf(honest)).toMatchObject({ ok: true, firstFailure: null });
  });
});

describe('cheating modes', () => {
  it('random-tokens: reproducible uniformly random non-EOS tokens, each with its true logprob; rejected', async () => {
    const honest = await run(task());
    const a = await run(task(), createCheat('random-tokens'));
    const b = await run(task(), createCheat('random-tokens'));
    expect(a.ids).toEqual(b.ids);
    expect(a.ids).not.toEqual(honest.ids);
    expect(a.ids).toHaveLength(24);
    expect(a.ids.some((id) => model.eosIds.includes(id))).toBe(false);
    expect(new Set(a.ids).size).toBeGreaterThan(12);
    const verdict = await verdictOf(a);
    expect(verdict).toMatchObject({ ok: false, firstFailure: { reason: 'outside_interval' } });
    // Only the sampling check catches it: every claimed logprob is the model's.
    expect(verdict.maxLogprobDeviation).toBeLessThan(1e-5);
  });

  it('false-stop: the honest tokens up to ceil(max_tokens / 2), claiming stop without an end-of-sequence token; rejected', async () => {
    const honest = await run(task());
    const cheat = await run(task({ maxTokens: 23 }), createCheat('false-stop'));
    expect(cheat.ids).toEqual(honest.ids.slice(0, 12));
    expect(cheat.claim.tokens).toEqual(honest.claim.tokens.slice(0, 12));
    expect(cheat).toMatchObject({ finishReason: 'stop', completionTokens: 12 });
    // A stop with no end-of-sequence token claims a stop sequence, and the job has none.
    expect(cheat.claim.params.stop).toEqual([]);
    expect((await verdictOf(cheat)).firstFailure).toEqual({ position: 12, reason: 'false_stop' });
    // Counting an end-of-sequence token does not help: the model did not draw one there.
    expect((await rescore(model, { ...cheat.claim, completionTokens: 13 }, TOLERANCES)).firstFailure).toEqual({
      position: 12,
      reason: 'false_stop',
    });
  });

  it('other-seed: the tokens of seed + 1 under the task’s seed; rejected', async () => {
    const nextSeed = await run(task({ seed: 8 }));
    const cheat = await run(task(), createCheat('other-seed'));
    expect(cheat.tokens).toEqual(nextSeed.tokens);
    expect(cheat.claim.params.seed).toBe(7);
    expect(await verdictOf(cheat)).toMatchObject({ ok: false, firstFailure: { reason: 'outside_interval' } });
  });

  it('tampered-logprobs: the honest tokens, each claimed a little likelier; rejected', async () => {
    const honest = await run(task());
    const cheat = await run(task(), createCheat('tampered-logprobs'));
    expect(cheat.ids).toEqual(honest.ids);
    cheat.tokens.forEach((token, i) =>
      expect(token.logprob).toBeCloseTo(Math.min(0, (honest.tokens[i] as GeneratedToken).logprob + LOGPROB_SHIFT), 12),
    );
    expect(await verdictOf(cheat)).toMatchObject({ ok: false, firstFailure: { position: 0, reason: 'logprob_mismatch' } });
  });

  it('replay: the first job honest, then each job answered with the previous one’s tokens, cut to max_tokens; rejected', async () => {
    const cheat = createCheat('replay');
    const first = await run(task(), cheat);
    expect(first.tokens).toEqual((await run(task())).tokens);

    const second = await run(task({ seed: 11, maxTokens: 10 }, 'What do whales eat?'), cheat);
    expect(second.claim.tokens).toEqual(first.claim.tokens.slice(0, 10));
    expect(second.text).toBe(model.tokenizer.decode(first.ids.slice(0, 10)));
    expect(second).toMatchObject({ finishReason: 'length', completionTokens: 10 });
    expect((await verdictOf(second)).ok).toBe(false);

    // The job before is the replayed one: its 10 tokens end as it claimed, by length.
    const third = await run(task({ seed: 12, maxTokens: 30 }, 'Why is the sea salty?'), cheat);
    expect(third.claim.tokens).toEqual(first.claim.tokens.slice(0, 10));
    expect(third).toMatchObject({ finishReason: 'length', completionTokens: 10 });
    expect((await verdictOf(third)).ok).toBe(false);
  });

  it('replay: a replayed end-of-sequence ends the completion the same way', async () => {
    // Find an honest completion that the model ends, then replay it into a longer job.
    for (let seed = 0; seed < 200; seed++) {
      const cheat = createCheat('replay');
      const first = await run(task({ seed, maxTokens: 40, temperature: 1.5, topP: 1 }), cheat);
      if (first.completionTokens === first.tokens.length) continue;
      const second = await run(task({ seed: seed + 1000, maxTokens: 60 }, 'What do whales eat?'), cheat);
      expect(second.claim.tokens).toEqual(first.claim.tokens);
      expect(second).toMatchObject({ finishReason: 'stop', completionTokens: first.tokens.length + 1 });
      expect((await verdictOf(second)).ok).toBe(false);
      return;
    }
    throw new Error('no seed in 0..199 ended with EOS');
  });
});

describe.each([
  ['other-model', 'dolphin-tiny-imposter'],
  ['rounded-weights', 'dolphin-tiny-q4'],
] as const)('%s', (mode, folder) => {
  it('loads another folder under the model’s id', () => {
    expect(modelFolder(mode, 'dolphin-tiny')).toBe(folder);
    expect(modelFolder('random-tokens', 'dolphin-tiny')).toBe('dolphin-tiny');
    expect(modelFolder(null, 'dolphin-tiny')).toBe('dolphin-tiny');
  });

  // test-models/ is written by `npm run models`, which `npm test` runs first: a missing folder fails here.
  it(
    'its completions are rejected by re-scoring on dolphin-tiny',
    async () => {
      // As the worker does: the folder's model, served as the id asked for.
      const imposter = { ...(await loadNodeModel(folder)), id: 'dolphin-tiny' };
      try {
        const cheat = await run(task(), createCheat(mode), imposter);
        const verdict = await verdictOf(cheat);
        console.log(`${mode} (${folder}) re-scored on dolphin-tiny: ${JSON.stringify(verdict)}`);
        expect(verdict.ok).toBe(false);
      } finally {
        await imposter.engine.dispose();
      }
    },
  );
});

it('one enum names every mode', () => {
  expect(cheatModeSchema.options).toEqual([
    'other-model',
    'rounded-weights',
    'random-tokens',
    'false-stop',
    'other-seed',
    'tampered-logprobs',
    'replay',
    'approve-everything',
    'reject-everything',
  ]);
});
