/**
 * A JobBoard over a real registry and recording links, on a clock the test moves by hand, with helpers for the
 * messages a tab sends (job-board*.test.ts).
 */
import type { SamplingParams, TabToCoordinator } from '../../src/protocol/tab.ts';
import { RecordingLink, tokenEntry, tokensMessage, type TokensMessage } from './tab-peer.ts';
import { TabRegistry, type Tab } from '../../coordinator/tabs/tab-registry.ts';
import { JobBoard, type Job, type JobBoardOptions, type JobEvent, type JobRequest, type StartResult } from '../../coordinator/jobs/job-board.ts';

export type DoneMessage = Extract<TabToCoordinator, { type: 'done' }>;
export type FailedMessage = Extract<TabToCoordinator, { type: 'failed' }>;
export type JobMessage = TokensMessage | DoneMessage | FailedMessage;

export const params: SamplingParams = { maxTokens: 8, temperature: 0.7, topP: 0.9, topK: 40, stop: ['\n'], seed: 7, topLogprobs: 0 };
export const request = (model = 'm', overrides: Partial<SamplingParams> = {}): JobRequest => ({ model, messages: [{ role: 'user', content: 'hi' }], params: { ...params, ...overrides } });

/** A message carrying the single token at `index`, as a tab sends a job's first token (and may send any other). */
export const token = (jobId: string, index: number, text = `t${index}`, alternatives = 0): TokensMessage => tokensMessage(jobId, [tokenEntry(index, text, alternatives)]);
/** One message carrying the tokens at `indices`, in that order (not necessarily consecutive, to break the contract). */
export const batch = (jobId: string, indices: number[], alternatives = 0): TokensMessage => tokensMessage(jobId, indices.map((i) => tokenEntry(i, `t${i}`, alternatives)));
/** `count` consecutive indices from `from`. */
export const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
/** The first `count` tokens of a job, one message each. */
export const tokens = (jobId: string, count: number): TokensMessage[] => range(0, count).map((i) => token(jobId, i));
// Signatures are not checked in these tests (the board gets `verifyResult: () => true`) except where stated;
// tab-session.test.ts and the end-to-end tests check real ones.
export const done = (jobId: string, completionTokens: number, promptTokens = 3): DoneMessage => ({ type: 'done', jobId, finishReason: 'stop', text: '', promptTokens, completionTokens, signature: 'unchecked' });
export const withoutJobId = ({ jobId: _jobId, ...event }: JobMessage): JobEvent => {
  if (event.type !== 'done') return event;
  const { signature: _signature, ...rest } = event;
  return rest;
};

/**
 * A board over a real registry, on a clock the test moves by hand. A tab holds one job at a time unless `jobsPerTab`
 * says otherwise (the production default, 2, has its own tests in job-board-queues.test.ts).
 */
export function network(options: { idleTimeoutMs?: number; queueTimeoutMs?: number; maxWaitingPerModel?: number; verifyResult?: (tab: Tab, transcript: string, signature: string) => boolean; streamCheck?: JobBoardOptions['streamCheck'] } & Pick<JobBoardOptions, 'maxFailovers' | 'hedgeAfterMs' | 'onCompleted' | 'onFinished' | 'jobsPerTab' | 'modelSize'> = {}) {
  let clock = 0;
  const logs: string[] = [];
  const registry = new TabRegistry(() => clock);
  const board = new JobBoard({ registry, idleTimeoutMs: options.idleTimeoutMs ?? 60_000, queueTimeoutMs: options.queueTimeoutMs, maxWaitingPerModel: options.maxWaitingPerModel, now: () => clock, log: (line) => logs.push(line), verifyResult: options.verifyResult ?? (() => true), ...(options.streamCheck ? { streamCheck: options.streamCheck } : {}), maxFailovers: options.maxFailovers, hedgeAfterMs: options.hedgeAfterMs, onCompleted: options.onCompleted, onFinished: options.onFinished, jobsPerTab: options.jobsPerTab ?? 1, ...(options.modelSize ? { modelSize: options.modelSize } : {}) });
  const addTab = (models: string[] = ['m']) => {
    const link = new RecordingLink();
    const tab = registry.add(link);
    // What the tab's session does when its hello arrives.
    Object.assign(tab, { ready: true, backend: 'wasm', models });
    board.tabChanged(tab);
    clock++;
    return { tab, link };
  };
  /** Changes what the board's scheduler weighs of a tab, as a tab's status (or an audit's reputation) does. */
  const update = (tab: Tab, fields: Partial<Tab>) => {
    Object.assign(tab, fields);
    board.tabChanged(tab);
  };
  /** What the tab's session does when its link closes. */
  const closeTab = (tab: Tab) => {
    registry.remove(tab.id);
    board.tabClosed(tab);
  };
  const startJob = async (req: JobRequest = request(), id?: string): Promise<Job> => {
    const result = await board.start(req, { id });
    if (!result.ok) throw new Error(`expected a tab to take the job, got ${result.reason}`);
    return result.job;
  };
  /** Starts a job (of `request()`) on exactly this tab, to keep it busy: the other tabs sit it out. */
  const occupy = async (tab: Tab, id?: string): Promise<Job> => {
    const others = registry.ready().filter((t) => t !== tab);
    for (const t of others) update(t, { ready: false });
    try {
      return await startJob(request(), id);
    } finally {
      for (const t of others) update(t, { ready: true });
    }
  };
  return { registry, board, logs, addTab, closeTab, startJob, occupy, update, tick: (ms: number) => (clock += ms) };
}
export type Network = ReturnType<typeof network>;

export async function drain(job: Job): Promise<JobEvent[]> {
  const events: JobEvent[] = [];
  for await (const event of job.events) events.push(event);
  return events;
}

/** Lets settled promises run their callbacks. */
export const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Watches a start without awaiting it, so a test can check that it is still waiting. */
export function watch(promise: Promise<StartResult>) {
  const state: { result: StartResult | null } = { result: null };
  void promise.then((result) => (state.result = result));
  return state;
}

export const okJob = (result: StartResult | null): Job => {
  if (!result?.ok) throw new Error(`expected a started job, got ${JSON.stringify(result)}`);
  return result.job;
};

