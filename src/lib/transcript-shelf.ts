/**
 * The transcripts of a tab's last finished jobs, exactly as it streamed and signed them, so it can send one to a
 * verifier when the coordinator audits that job. Bounded: the coordinator decides on an audit right after a job
 * ends, so only recent jobs are asked for.
 */
import type { TranscriptEnd, TranscriptTask, TranscriptToken } from '../protocol/identity.ts';
import { auditTranscriptOf } from '../protocol/mesh.ts';

const KEEP = 32;

interface Shelved {
  task: TranscriptTask;
  tokens: ReadonlyArray<TranscriptToken>;
  end: TranscriptEnd;
}

export class TranscriptShelf {
  private readonly jobs = new Map<string, Shelved>();

  keep(task: TranscriptTask, tokens: ReadonlyArray<TranscriptToken>, end: TranscriptEnd): void {
    this.jobs.set(task.jobId, { task, tokens, end });
    for (const jobId of this.jobs.keys()) {
      if (this.jobs.size <= KEEP) break;
      this.jobs.delete(jobId);
    }
  }

  /** The audit payload (JSON) for job `jobId`, or null when this tab has no record of it. */
  payload(auditId: string, jobId: string): string | null {
    const job = this.jobs.get(jobId);
    return job ? JSON.stringify(auditTranscriptOf(auditId, job.task, job.tokens, job.end)) : null;
  }
}
