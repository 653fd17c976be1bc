import { describe, expect, it } from 'vitest';
import { MAX_STRIKES, PlantSources, Strikes, STRIKE_PAUSE_MS } from './desk-memory.ts';
import type { TranscriptParts } from './audit-decision.ts';

const parts = (jobId: string, model = 'm'): TranscriptParts => ({
  task: { jobId, model, messages: [{ role: 'user', content: 'hi' }], params: { maxTokens: 4, temperature: 0.8, topP: 1, topK: 0, stop: [], seed: 1, topLogprobs: 0 } },
  tokens: [{ id: 1, logprob: -1 }],
  end: { finishReason: 'length', promptTokens: 3, completionTokens: 1 },
});

describe('PlantSources', () => {
  it("never picks the verifier's own job, prefers one it has not judged, and keeps the last 8 per model", () => {
    const sources = new PlantSources();
    sources.add(parts('own'), 'v');
    sources.add(parts('seen'), 'w');
    sources.add(parts('fresh'), 'w');
    sources.seen('m', 'seen', 'v');
    for (const draw of [0, 0.5, 0.99]) expect(sources.pick('m', 'v', () => draw)?.parts.task.jobId).toBe('fresh');
    sources.seen('m', 'fresh', 'v');
    expect(['seen', 'fresh']).toContain(sources.pick('m', 'v', () => 0.5)?.parts.task.jobId);
    expect(sources.pick('other', null, Math.random)).toBeNull();
    for (let i = 0; i < 8; i++) sources.add(parts(`j${i}`), 'w');
    expect(sources.pick('m', null, () => 0)?.parts.task.jobId).toBe('j0');
  });
});

describe('Strikes', () => {
  it(`pauses a tab after ${MAX_STRIKES} strikes in a row for ${STRIKE_PAUSE_MS} ms; an answer clears them`, () => {
    const strikes = new Strikes<string>();
    expect(strikes.strike('t', 0)).toBe(false);
    strikes.clear('t');
    expect(strikes.strike('t', 0)).toBe(false);
    expect(strikes.strike('t', 0)).toBe(false);
    expect(strikes.strike('t', 0)).toBe(true);
    expect(strikes.paused('t', STRIKE_PAUSE_MS - 1)).toBe(true);
    expect(strikes.paused('t', STRIKE_PAUSE_MS)).toBe(false);
    expect(strikes.paused('other', 0)).toBe(false);
  });
});
