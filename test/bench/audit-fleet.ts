/**
 * The share of jobs audited across a steady-state fleet of honest contributors under the audit policy
 * (coordinator/trust/audit-policy.ts), for `npm run bench` (verify.ts). Pure: a seeded generator, no I/O.
 */
import { afterAudit, auditProbability, NEW_IDENTITY, shouldAudit, type AuditPolicy, type AuditRecord } from '../../coordinator/trust/audit-policy.ts';

/** A small seeded generator (mulberry32) for the fleet simulation: reproducible, and fast enough for millions of draws. */
function seededUniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * The audited share of jobs in a steady-state honest fleet, simulated. `identities` contributors serve jobs, each job
 * going to one of them at random; after every job its identity leaves with probability 1/meanLifetimeJobs
 * (geometric lifetimes) and a new identity takes its place. Every audit passes (honest fleet). The fleet starts
 * in steady state: each starting identity has already served a geometric number of jobs (the age of a survivor
 * of a memoryless lifetime), simulated with the real policy.
 */
export function simulateFleet(options: { identities: number; meanLifetimeJobs: number; jobs: number; policy: AuditPolicy; seed: number }) {
  const { identities, meanLifetimeJobs, jobs, policy } = options;
  const draw = seededUniform(options.seed);
  const leave = 1 / meanLifetimeJobs;
  const serve = (record: AuditRecord) => (shouldAudit(record, policy, draw()) ? { audited: true, record: afterAudit(record, true) } : { audited: false, record });
  const fleet: AuditRecord[] = Array.from({ length: identities }, () => {
    let record = NEW_IDENTITY;
    while (draw() >= leave) record = serve(record).record;
    return record;
  });
  let audited = 0;
  for (let job = 0; job < jobs; job++) {
    const i = Math.floor(draw() * identities);
    const served = serve(fleet[i] as AuditRecord);
    if (served.audited) audited++;
    fleet[i] = draw() < leave ? NEW_IDENTITY : served.record;
  }
  return audited / jobs;
}

/**
 * The same steady state from expectations (renewal-reward): Σ_i P(lifetime > i) · p_i / mean lifetime, with p_i
 * the audit probability at job i along the expected-passes path expectedAuditShare uses. A cross-check.
 */
export function expectedFleetShare(policy: AuditPolicy, meanLifetimeJobs: number): number {
  const survive = 1 - 1 / meanLifetimeJobs;
  let record = NEW_IDENTITY;
  let audits = 0;
  for (let i = 0, alive = 1; alive > 1e-12; i++, alive *= survive) {
    const p = auditProbability(record, policy);
    audits += alive * p;
    record = { consecutivePasses: record.consecutivePasses + p };
  }
  return audits / meanLifetimeJobs;
}
