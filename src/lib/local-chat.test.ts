import { describe, expect, it } from 'vitest';
import { localParams, randomSeed } from './local-chat.ts';
import { planSampling } from '../protocol/sampling-plan.ts';
import { chatCompletionRequestSchema } from '../protocol/api.ts';

describe('localParams', () => {
  it("are the coordinator's sampling plan for the request the chat page sends", () => {
    for (const settings of [{ temperature: 0, maxTokens: 16, seed: 5 }, { temperature: 1.3, maxTokens: 2048, seed: 0 }]) {
      const request = chatCompletionRequestSchema.parse({ model: 'm', messages: [{ role: 'user', content: 'hi' }], temperature: settings.temperature, max_tokens: settings.maxTokens, seed: settings.seed, stream: true });
      expect(localParams(settings, settings.seed)).toEqual(planSampling(request, 512, () => 99));
    }
  });
});

describe('randomSeed', () => {
  it('spans the whole seed range', () => {
    expect(randomSeed((w) => w.fill(0))).toBe(0);
    expect(randomSeed((w) => w.fill(0xffffffff))).toBe(Number.MAX_SAFE_INTEGER);
    const seed = randomSeed();
    expect(Number.isSafeInteger(seed) && seed >= 0).toBe(true);
  });
});
