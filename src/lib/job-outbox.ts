/**
 * What a tab sends for one job, kept so that the job survives the loss of the data channel it travelled on.
 *
 * A job's messages go on the link its task came on. When that is a data channel and it closes, nobody knows which
 * of the messages in flight arrived, so the outbox holds everything from then on until the coordinator says where
 * to resume (`resume {from}`, or the task again, meaning from 0); it then sends the tokens from there, and the
 * ending if the job has ended, on the WebSocket. A job that started on the WebSocket ignores `resume`: its stream
 * was never split. No message is lost or sent twice.
 */
import { MAX_TOKENS_PER_MESSAGE, type TabToCoordinator, type TokenEntry } from '../protocol/tab.ts';
import type { DataChannelLink } from './webrtc-listener.ts';

type JobMessage = Extract<TabToCoordinator, { type: 'tokens' | 'done' | 'failed' }>;
type Ending = Extract<JobMessage, { type: 'done' | 'failed' }>;

export class JobOutbox {
  private readonly tokens: TokenEntry[] = [];
  private ending: Ending | null = null;
  private held = false;
  private abandoned = false;

  constructor(
    readonly jobId: string,
    private via: DataChannelLink | null,
    private readonly sendOnWebSocket: (message: JobMessage) => void,
  ) {}

  /** The job's link is a data channel (not yet moved to the WebSocket by a resume). */
  get onDataChannel(): boolean {
    return this.via !== null;
  }

  get ended(): boolean {
    return this.ending !== null;
  }

  /** Its session ended: whatever the job still produces goes nowhere (the same job id may run here again, anew). */
  abandon(): void {
    this.abandoned = true;
  }

  push(message: JobMessage): void {
    if (this.abandoned) return;
    if (message.type === 'tokens') this.tokens.push(...message.tokens);
    else this.ending = message;
    if (this.via && !this.via.open) this.held = true;
    if (this.held) return;
    if (this.via) this.via.send(JSON.stringify(message));
    else this.sendOnWebSocket(message);
  }

  channelClosed(channel: DataChannelLink): void {
    if (this.via === channel) this.held = true;
  }

  /** The coordinator has the tokens before `from`: send the rest, and the ending, on the WebSocket. */
  resume(from: number): void {
    if (!this.via) return;
    this.via = null;
    this.held = false;
    const rest = this.tokens.filter((t) => t.index >= from);
    for (let i = 0; i < rest.length; i += MAX_TOKENS_PER_MESSAGE) this.sendOnWebSocket({ type: 'tokens', jobId: this.jobId, tokens: rest.slice(i, i + MAX_TOKENS_PER_MESSAGE) });
    if (this.ending) this.sendOnWebSocket(this.ending);
  }
}
