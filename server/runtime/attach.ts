/**
 * Attach sessions: `attach`, `start -a`, and `run` in the foreground (with or without -it). The
 * main process's output reaches a client by two roads, the shim's attach socket (a tty) or the log
 * (no tty), and a process that ends before the client is connected must still show all of its
 * output: most of what follows is about those races, and the comments say which one each guards.
 */
import type * as net from 'node:net';
import { conflict } from './errors';
import type { Lifecycle } from './lifecycle';
import { readLogs } from './logs';
import type { Queries } from './queries';
import type { Removal } from './removal';
import type { ManagedContainer, RuntimeState } from './runtime-state';
import type { SessionControl, SessionSink } from './sessions';
import { CONTAINER_FILES } from './shim-protocol';
import { ZERO_TIME } from './types';
import type { TerminalInput } from './terminal-input';
import { connectWhenListening, shimTerminalInput } from './unix';

export class AttachSessions {
  constructor(
    private readonly state: RuntimeState,
    private readonly lifecycle: Lifecycle,
    private readonly removal: Removal,
    private readonly queries: Queries,
  ) {}

  /**
   * `run` in the foreground in one request: create, then attach with the start, as attach()
   * describes. All or nothing: a failed start or spec.json write removes the container again.
   */
  async runAttached(
    body: unknown,
    options: { consoleSize?: { rows: number; cols: number } },
    sink: SessionSink,
  ): Promise<{ id: string; warnings: string[]; control: SessionControl }> {
    const { container, warnings, saved } = this.lifecycle.createContainer(body);
    let control: SessionControl | undefined;
    try {
      control = await this.attach(container.id, { start: true, ...(options.consoleSize ? { consoleSize: options.consoleSize } : {}) }, sink);
      await saved;
    } catch (error) {
      control?.close();
      throw await this.lifecycle.undoCreate(container, error);
    }
    return { id: container.id, warnings, control };
  }

  /**
   * Connects a client to a container: with a tty, to its pty through the shim's attach socket;
   * without, to its log (from now on) and, with -i, to its stdin. With `start`, the container is
   * started once the output is being followed, so nothing is missed; with `run` too, a failed start
   * removes the container (`run` leaves nothing behind). Resolves when the session is live; the
   * sink hears the output and, once the run is over and drained, its exit code.
   */
  async attach(
    reference: string,
    options: { start?: boolean; run?: boolean; consoleSize?: { rows: number; cols: number } },
    sink: SessionSink,
  ): Promise<SessionControl> {
    this.state.assertOpen();
    const container = this.state.find(reference);
    const { tty, openStdin } = container.record.config;
    if (!options.start && !container.isRunning) throw conflict('not_running', 'You cannot attach to a stopped container, start it first');

    let clientGone = false;
    let finished = false;
    let socket: net.Socket | undefined;
    /** With a tty: the keys and sizes for the shim, each size applied before the keys after it. */
    let terminal: TerminalInput | undefined;
    const stopFollowing = new AbortController();
    let markDone!: () => void;
    const done = new Promise<void>((resolve) => (markDone = resolve));
    // Held from the start: a `run --rm` whose process ends while we still connect must not have
    // its folder (and log, which the output may have to be replayed from) removed meanwhile.
    container.hold(done);
    const finish = (): void => {
      if (finished) return;
      finished = true;
      stopFollowing.abort();
      terminal?.close();
      socket?.destroy();
      const { exitCode, error } = container.record.state;
      if (!clientGone) sink.end(exitCode, error || undefined);
      markDone();
    };
    // Registered before the start: `true` can exit before the start call returns.
    let exited = false;
    /** The output comes from the log instead (the shim never took our connection). */
    let replaying = false;
    /** Set by the socket's 'close' handler, which decides about a replay: `destroyed` is set a
     * tick earlier, and an exit seen in between must not finish the session without the output. */
    let socketClosed = false;
    // The attach socket lives only while the shim relays: once the exit is recorded it is gone for
    // good, so a connect still retrying then would only wait out its timeout (and, under --rm,
    // outlive the folder the log is replayed from). Stop it; the output is in the log.
    const connectAbort = new AbortController();
    stopFollowing.signal.addEventListener('abort', () => connectAbort.abort(), { once: true });
    container.once('exit', () => {
      exited = true;
      if (!socket) connectAbort.abort();
      if (tty && socketClosed && !replaying) finish();
    });

    let following: Promise<void> | undefined;
    if (!tty) {
      following = this.queries.follow(container, { tail: 0 }, (line) => sink.output(line.stream === 'stderr' ? 2 : 1, Buffer.from(line.log, 'utf8')), stopFollowing.signal);
      void following.then(finish);
    }

    // Connect while the shim starts, so the first output (replayed to the first client) is ours.
    const connecting = tty || openStdin ? connectWhenListening(container.directory, CONTAINER_FILES.attach, connectAbort.signal) : undefined;
    connecting?.catch(() => undefined);
    const startedAtMs = Date.now();
    try {
      if (options.start) await this.lifecycle.startQueued(container, options.consoleSize);
    } catch (error) {
      clientGone = true;
      finish();
      if (options.run && container.record.state.startedAt === ZERO_TIME && !container.removed) {
        await container.serialize(() => this.removal.destroy(container)).catch(() => undefined);
      }
      throw error;
    }
    if (connecting) {
      try {
        socket = await connecting;
      } catch (error) {
        // Without a tty the socket only carries stdin, which a process that has ended no longer reads.
        if (!tty && !exited) throw error;
        // The process ended before the shim took a client: its output is in the log.
        if (tty && !finished) {
          replaying = true;
          this.replayLogAfterExit(container, startedAtMs - 1000, sink, finish);
        }
      }
    }
    if (socket) {
      socket.on('error', () => socket?.destroy());
      if (tty) {
        let received = 0;
        socket.on('data', (chunk: Buffer) => {
          received += chunk.length;
          sink.output(1, chunk);
        });
        // The shim closes the connection once the pty's output is drained; the exit follows. A
        // connection closed before any byte came was never accepted (the process ended first):
        // the output is in the log then.
        socket.once('close', () => {
          socketClosed = true;
          if (received === 0) {
            replaying = true;
            this.replayLogAfterExit(container, startedAtMs - 1000, sink, finish);
          }
          else if (exited || !container.isRunning) finish();
        });
        terminal = shimTerminalInput(socket, container.directory, CONTAINER_FILES.control);
        if (options.consoleSize) terminal.resize(options.consoleSize);
      } else {
        socket.resume();
      }
    }
    if (tty && socketClosed && exited && !replaying) finish();
    return {
      write: (data) => {
        if (!openStdin || !socket || socket.destroyed) return;
        if (terminal) terminal.keys(data);
        else socket.write(data);
      },
      endInput: () => {
        if (!tty) socket?.end();
      },
      resize: (rows, cols) => {
        if (!finished) terminal?.resize({ rows, cols });
      },
      close: () => {
        clientGone = true;
        finish();
      },
    };
  }

  /** Sends the log lines written since `sinceMs` once the run is over, then ends the session. */
  private replayLogAfterExit(container: ManagedContainer, sinceMs: number, sink: SessionSink, finish: () => void): void {
    const replay = (): void => {
      for (const line of readLogs(container.directory, { sinceMs })) sink.output(line.stream === 'stderr' ? 2 : 1, Buffer.from(line.log, 'utf8'));
      finish();
    };
    if (container.isRunning) container.once('exit', replay);
    else replay();
  }
}
