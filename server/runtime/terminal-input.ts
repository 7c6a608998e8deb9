/**
 * The keys and window sizes of one client's terminal, on their way to a shim.
 *
 * They travel apart: keys over the attach socket, sizes over the control socket, one connection
 * each. Sent as they come, a `stty size` typed right after a resize could reach the shell before
 * the size reached the pty (and print the old one), and two quick resizes could be applied in the
 * wrong order. So a resize is delivered before anything after it: keys that arrive while a resize
 * is on its way are held and written once the shim has taken it, and resizes go one at a time,
 * only the newest of those that wait being sent.
 */

/** Window size of a terminal. Units: character cells. */
export interface TerminalSize {
  rows: number;
  cols: number;
}

export interface TerminalInputSinks {
  /** Writes keys to the attach socket. */
  writeKeys: (data: Buffer) => void;
  /**
   * Delivers one size; resolves once the shim has applied it, or it is given up (a lost resize
   * costs a redraw, never the keys held behind it). Never rejects.
   */
  deliverSize: (size: TerminalSize) => Promise<void>;
}

export class TerminalInput {
  private waitingSize: TerminalSize | undefined;
  private delivering = false;
  private heldKeys: Buffer[] = [];
  private closed = false;

  constructor(private readonly sinks: TerminalInputSinks) {}

  keys(data: Buffer): void {
    if (this.closed) return;
    if (this.delivering) this.heldKeys.push(data);
    else this.sinks.writeKeys(data);
  }

  resize(size: TerminalSize): void {
    if (this.closed) return;
    this.waitingSize = size;
    if (!this.delivering) void this.deliverWaiting();
  }

  /** The session is over: nothing more is written, held keys are dropped. */
  close(): void {
    this.closed = true;
    this.heldKeys = [];
    this.waitingSize = undefined;
  }

  private async deliverWaiting(): Promise<void> {
    this.delivering = true;
    while (this.waitingSize && !this.closed) {
      const size = this.waitingSize;
      this.waitingSize = undefined;
      await this.sinks.deliverSize(size);
    }
    this.delivering = false;
    const held = this.heldKeys;
    this.heldKeys = [];
    if (!this.closed) for (const data of held) this.sinks.writeKeys(data);
  }
}
