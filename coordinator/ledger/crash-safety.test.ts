/**
 * Crash safety: a child process applying a stream of settlements to a ledger file is killed with SIGKILL at random
 * moments, many times. After every kill the ledger's invariants hold; at the end, running the stream once more past
 * where the children got (idempotent keys) gives exactly the balances of one clean run — no settlement lost or applied twice.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { contributorAccount, MINT, requesterAccount, TREASURY } from './accounts.ts';
import { openSqliteLedger } from './sqlite-ledger.ts';
import { applySettlement, SETTLEMENT_MICROS } from './settlement-stream.test-helper.ts';

const HELPER = fileURLToPath(new URL('./settlement-stream.test-helper.ts', import.meta.url));
const KILLS = 12;

/** Starts the stream in a child and kills it `delayMs` after it opened the ledger. */
function runAndKill(path: string, delayMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // No end: the child is always killed mid-stream.
    const child = spawn(process.execPath, ['--import', 'tsx', HELPER, path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.once('data', () => setTimeout(() => child.kill('SIGKILL'), delayMs));
    child.on('exit', (code, signal) => (signal === 'SIGKILL' || code === 0 ? resolve() : reject(new Error(`the stream exited with ${code}: ${stderr}`))));
  });
}

it(`keeps the ledger whole across ${KILLS} SIGKILLs mid-stream, and applies each settlement exactly once`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dolphin-crash-'));
  try {
    const path = join(dir, 'ledger.db');
    const progress: number[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      await runAndKill(path, 20 + ((kill * 37) % 200));
      const ledger = openSqliteLedger({ path });
      expect(ledger.audit()).toEqual({ sum: 0, mismatches: [], negative: [] });
      progress.push(-ledger.balance(MINT) / SETTLEMENT_MICROS);
      ledger.close();
    }
    console.log(`settlements applied after each kill: ${progress.join(', ')}`);
    expect(Math.max(...progress)).toBeGreaterThan(0); // the children got somewhere before they were killed
    // Run the stream once more, past where the children got: what was applied is replayed, the rest added.
    const COUNT = Math.max(...progress) + 100;
    const ledger = openSqliteLedger({ path });
    for (let i = 0; i < COUNT; i++) applySettlement(ledger, i);
    expect(ledger.balance(MINT)).toBe(-COUNT * SETTLEMENT_MICROS);
    expect(ledger.balance(TREASURY)).toBe((COUNT * SETTLEMENT_MICROS) / 10);
    const pending = [0, 1, 2].reduce((sum, c) => sum + ledger.balance(contributorAccount(`c${c}`, 'pending')), 0);
    expect(pending).toBe((COUNT * SETTLEMENT_MICROS * 9) / 10);
    expect([0, 1, 2, 3, 4, 5, 6].map((r) => ledger.balance(requesterAccount(`r${r}`)))).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(ledger.audit()).toEqual({ sum: 0, mismatches: [], negative: [] });
    ledger.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
