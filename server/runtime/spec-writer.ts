/**
 * Keeping each container's spec.json in step with its record. One writer per container runs at a
 * time, off the JS thread, so the agent never stalls on an fsync and a burst of changes costs few
 * of them; every concern that changes a record asks this writer, never the store directly.
 */
import type { ManagedContainer, RuntimeState } from './runtime-state';

export class SpecWriter {
  constructor(private readonly state: RuntimeState) {}

  /** Resolves once every spec.json write requested so far is on disk (or has failed and been logged). */
  async saved(): Promise<void> {
    await Promise.all([...this.state.all()].map((container) => container.saving?.catch(() => undefined)));
  }

  /**
   * Saves spec.json as the record is now, on libuv's pool (an fsync must not stall the agent).
   * Writes never overlap and changes that arrive during one are coalesced into the next, so a burst
   * (create, start, exit of `true`) costs two fsyncs, not four, on a disk the shim also syncs to.
   * The promise settles once a write that includes this change is on disk; failures are logged,
   * and with `strict` the promise rejects too.
   */
  persist(container: ManagedContainer, strict = false): Promise<void> {
    if (container.removed || container.removing) return Promise.resolve();
    container.saveRequested = true;
    const done = new Promise<void>((resolve, reject) => container.saveWaiters.push({ resolve, reject }));
    if (!container.writerRunning) {
      container.writerRunning = true;
      container.saving = this.writeRecordLoop(container);
    }
    return strict ? done : done.catch(() => undefined);
  }

  private async writeRecordLoop(container: ManagedContainer): Promise<void> {
    while (container.saveRequested && !container.removed && !container.removing) {
      container.saveRequested = false;
      const waiters = container.saveWaiters.splice(0);
      const text = JSON.stringify(container.record, null, 2) + '\n';
      try {
        await this.state.store.writeRecordText(container.id, text);
        for (const waiter of waiters) waiter.resolve();
      } catch (error) {
        if (!container.removed && !container.removing) {
          this.state.log(`capstan: warning: cannot save the state of container ${container.record.name}: ${(error as Error).message}`);
        }
        for (const waiter of waiters) waiter.reject(error);
      }
    }
    // Removed meanwhile: nobody needs the file any more.
    for (const waiter of container.saveWaiters.splice(0)) waiter.resolve();
    container.writerRunning = false;
  }
}
