import { statSync } from 'node:fs';
import { humanStatus } from '../server/approval-details.js';
import type { Runtime } from '../server/runtime.js';

type ApprovalRecord = Awaited<ReturnType<Runtime['approvals']['list']>>[number]['approval'];

/**
 * Tells open dashboard pages that something changed, whoever changed it: this process, the
 * CLI, another dashboard or a stdio server for an agent. It polls (every `intervalMs`, only
 * while someone listens) the state store's change marker (approvals, tokens, revocations; any
 * process, any replica), the config file (agents, admins) and the human status of every
 * approval, so a request that expires or leaves its delay is announced too.
 */
export class LiveChanges {
  private readonly listeners = new Set<(version: number) => void>();
  private timer: NodeJS.Timeout | null = null;
  private signature = '';
  private version = 0;
  private polling = false;
  private records: { marker: string; approvals: ApprovalRecord[] } | null = null;

  constructor(
    private readonly runtime: Runtime,
    private readonly files: () => string[],
    private readonly intervalMs = 250,
  ) {}

  /** Calls `listener` with a new version number on every change; returns the unsubscribe. */
  subscribe(listener: (version: number) => void): () => void {
    this.listeners.add(listener);
    if (!this.timer) {
      void this.poll();
      this.timer = setInterval(() => void this.poll(), this.intervalMs);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.stop();
    };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const next = await this.currentSignature();
      if (next !== this.signature) {
        const first = this.signature === '';
        this.signature = next;
        if (!first) {
          this.version++;
          for (const listener of this.listeners) listener(this.version);
        }
      }
    } catch {
      // A half-written or locked file is read again on the next tick.
    } finally {
      this.polling = false;
    }
  }

  private async currentSignature(): Promise<string> {
    const parts = this.files().map((file) => {
      const info = statSync(file, { throwIfNoEntry: false });
      return info ? `${file}:${info.mtimeMs}:${info.size}:${info.ino}` : `${file}:-`;
    });
    const marker = await this.runtime.state.changeMarker();
    // The records are read again only when the store says something changed (a listing reads
    // every record kept); between changes only time moves their statuses.
    if (!this.records || this.records.marker !== marker) {
      this.records = { marker, approvals: (await this.runtime.approvals.list()).map(({ approval }) => approval) };
    }
    const now = this.runtime.clock();
    const approvals = this.records.approvals.map((approval) => `${approval.id}:${humanStatus(approval, now)}`);
    return `${parts.join('|')}#${marker}#${approvals.join(',')}`;
  }
}
