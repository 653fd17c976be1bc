import { describe, expect, it } from 'vitest';
import { MAX_WASM_THREADS, wasmThreadCount } from './wasm-threads.ts';

describe('wasmThreadCount', () => {
  it('leaves one logical core free, up to the cap', () => {
    expect(wasmThreadCount({ hardwareConcurrency: 1, crossOriginIsolated: true })).toBe(1);
    expect(wasmThreadCount({ hardwareConcurrency: 2, crossOriginIsolated: true })).toBe(1);
    expect(wasmThreadCount({ hardwareConcurrency: 6, crossOriginIsolated: true })).toBe(5);
    expect(wasmThreadCount({ hardwareConcurrency: 32, crossOriginIsolated: true })).toBe(MAX_WASM_THREADS);
  });

  it('takes the contributor’s number when it is a positive integer', () => {
    expect(wasmThreadCount({ requested: 1, hardwareConcurrency: 8, crossOriginIsolated: true })).toBe(1);
    expect(wasmThreadCount({ requested: 12, hardwareConcurrency: 8, crossOriginIsolated: true })).toBe(12);
    expect(wasmThreadCount({ requested: 1000, hardwareConcurrency: 8, crossOriginIsolated: true })).toBe(64);
    expect(wasmThreadCount({ requested: 0, hardwareConcurrency: 4, crossOriginIsolated: true })).toBe(3);
    expect(wasmThreadCount({ requested: 2.5, hardwareConcurrency: 4, crossOriginIsolated: true })).toBe(3);
  });

  it('is one thread without cross-origin isolation, or when the core count is unknown', () => {
    expect(wasmThreadCount({ requested: 4, hardwareConcurrency: 8, crossOriginIsolated: false })).toBe(1);
    expect(wasmThreadCount({ hardwareConcurrency: 0, crossOriginIsolated: true })).toBe(1);
    expect(wasmThreadCount({ hardwareConcurrency: Number.NaN, crossOriginIsolated: true })).toBe(1);
  });
});
