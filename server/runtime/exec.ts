/**
 * Exec sessions (`capstan exec`): one more process in a running container, through
 * `capstan-shim exec`, which joins the container's namespaces and cgroups. Unlike the main process
 * an exec is not part of the container's state: its files carry a fresh id, live only as long as
 * the session, and nothing of it reaches spec.json.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { mergeEnv } from './create-record';
import { conflict, RuntimeError } from './errors';
import { prepareRootfs, userIn } from './launch';
import { parseSignal } from './process';
import type { RuntimeState } from './runtime-state';
import { parseExecRequest, type SessionControl, type SessionSink } from './sessions';
import { readStatus, SHIM_LOG_FILE } from './shim';
import { securityOfContainer } from './security/host';
import { shimSeccomp } from './security/program-cache';
import type { ExecConfig } from './shim-protocol';
import { writeFileAtomic } from './store';
import type { TerminalInput } from './terminal-input';
import { connectWhenListening, shimTerminalInput } from './unix';

export class ExecSessions {
  constructor(private readonly state: RuntimeState) {}

  /** Runs a command in a running container (`capstan exec`), through `capstan-shim exec`. */
  async exec(reference: string, body: unknown, sink: SessionSink): Promise<SessionControl> {
    this.state.assertOpen();
    const request = parseExecRequest(body);
    const container = this.state.find(reference);
    const { record } = container;
    if (container.status === 'paused') throw conflict('container_paused', `Container ${record.name} is paused, unpause the container before exec`);
    if (container.status !== 'running') throw conflict('not_running', `Container ${record.id} is not running`);
    const prepared = container.prepared ?? prepareRootfs(this.state.options.rootfs, record, container.directory);
    container.prepared = prepared;
    // docker exec: the container's --group-add applies to every exec, with or without -u; a user
    // or group that is not there exits 126 with runc's words alone (Engine 20.10, measured).
    let user;
    try {
      user = userIn(prepared, request.user ?? record.config.user, record.hostConfig.groupAdd);
    } catch (error) {
      if (error instanceof RuntimeError) throw new RuntimeError(error.status, error.code, error.message, { ...error.details, exitCode: 126 });
      throw error;
    }

    const execId = randomBytes(8).toString('hex');
    const names = { config: `exec-${execId}.json`, attach: `exec-${execId}.sock`, control: `exec-${execId}.ctl`, exit: `exec-${execId}.exit.json` };
    const file = (name: string): string => path.join(container.directory, name);
    const removeFiles = (): void => {
      for (const name of Object.values(names)) fs.rmSync(file(name), { force: true });
    };
    const env = mergeEnv([...record.config.env, `HOSTNAME=${record.config.hostname}`], request.env);
    // runc's rule: HOME from the user's passwd entry only where neither the container nor the exec set one.
    if (!env.some((entry) => entry.startsWith('HOME='))) env.push(`HOME=${user.home}`);
    if (request.tty && !env.some((entry) => entry.startsWith('TERM='))) env.push('TERM=xterm');
    // docker exec runs with the container's capabilities and seccomp profile.
    const security = securityOfContainer(record.hostConfig);
    const config: ExecConfig = {
      args: request.cmd,
      env,
      cwd: request.workingDir ?? (record.config.workingDir || '/'),
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      tty: request.tty,
      openStdin: request.openStdin,
      ...(request.tty ? { attachSocket: file(names.attach), controlSocket: file(names.control) } : {}),
      ...(request.consoleSize ? { consoleSize: request.consoleSize } : {}),
      pid: record.state.pid,
      startTimeTicks: record.state.startTimeTicks,
      cgroupProcsFiles: this.state.options.cgroups.directories(container.cgroupPath).map(({ directory }) => path.join(directory, 'cgroup.procs')),
      capabilities: security.capabilities,
      seccomp: await shimSeccomp(security.seccomp, this.state.seccompPrograms),
      exitRecordPath: file(names.exit),
    };
    writeFileAtomic(file(names.config), JSON.stringify(config) + '\n');

    const logFd = fs.openSync(file(SHIM_LOG_FILE), 'a', 0o600);
    let child;
    try {
      child = spawn(this.state.shimBinary, ['exec', container.directory, file(names.config)], {
        stdio: [request.openStdin && !request.tty ? 'pipe' : 'ignore', request.tty ? logFd : 'pipe', request.tty ? logFd : 'pipe', 'pipe'],
      });
    } finally {
      fs.closeSync(logFd);
    }
    // Node resumes a child's unread stdio when it exits, which discards what is in it: a command
    // quicker than the status read below lost its output. Read from the start and hold the output
    // until the exec is known to have started.
    const heldOutput: Array<[1 | 2, Buffer]> = [];
    let deliverOutput: ((stream: 1 | 2, chunk: Buffer) => void) | undefined;
    const takeOutput = (stream: 1 | 2) => (chunk: Buffer) => (deliverOutput ? deliverOutput(stream, chunk) : heldOutput.push([stream, chunk]));
    if (!request.tty) {
      child.stdout!.on('data', takeOutput(1));
      child.stderr!.on('data', takeOutput(2));
    }
    const exitStatus = new Promise<number>((resolve) => {
      child.once('error', () => resolve(126));
      child.once('close', (code, signal) => resolve(code ?? 128 + (signal ? (parseSignal(signal) ?? 0) : 0)));
    });
    // With a tty, be the shim's first client as early as possible (it replays output to that one).
    const connectAbort = new AbortController();
    const connecting = request.tty ? connectWhenListening(container.directory, names.attach, connectAbort.signal) : undefined;
    connecting?.catch(() => undefined);
    const status = await readStatus(child.stdio[3] as Readable, child, () => '').catch((error: unknown) => {
      connectAbort.abort();
      removeFiles();
      throw error;
    });
    if (status.type === 'error') {
      connectAbort.abort();
      removeFiles();
      // docker exec (Engine 20.10, measured) exits 126 whether the command is missing or not
      // executable; only `run` tells the two apart (127 / 126).
      // A working directory that is not there is the user's mistake too: 126 with runc's words.
      const badCwd = status.stage === 'cwd';
      const exitCode = badCwd || status.exitCode === undefined ? 126 : Math.min(status.exitCode, 126);
      const message = badCwd ? `chdir to cwd (${JSON.stringify(config.cwd)}) set in config.json failed: ${goErrorText(status.message)}` : status.message;
      const userError = badCwd || status.exitCode === 126 || status.exitCode === 127;
      throw new RuntimeError(userError ? 400 : 500, 'exec_failed', message, { exitCode, ...(status.code ? { errno: status.code } : {}) });
    }

    let clientGone = false;
    let socket: net.Socket | undefined;
    /** With a tty: the keys and sizes for the shim, each size applied before the keys after it. */
    let terminal: TerminalInput | undefined;
    if (request.tty) {
      try {
        socket = await Promise.race([
          connecting!,
          exitStatus.then(() => {
            throw new Error('the command ended before its terminal could be attached');
          }),
        ]);
        socket.on('error', () => socket?.destroy());
        socket.on('data', (chunk: Buffer) => sink.output(1, chunk));
        terminal = shimTerminalInput(socket, container.directory, names.control);
      } catch (error) {
        this.state.log(`capstan: warning: exec in ${record.name}: cannot attach to its terminal: ${(error as Error).message}`);
      }
    } else {
      deliverOutput = (stream, chunk) => sink.output(stream, chunk);
      for (const [stream, chunk] of heldOutput.splice(0)) sink.output(stream, chunk);
      child.stdin?.on('error', () => undefined);
    }
    const done = exitStatus.then((exitCode) => {
      connectAbort.abort();
      terminal?.close();
      socket?.destroy();
      removeFiles();
      if (!clientGone) sink.end(exitCode);
    });
    container.hold(done);
    return {
      write: (data) => {
        if (!request.openStdin) return;
        if (request.tty) terminal?.keys(data);
        else child.stdin?.write(data);
      },
      endInput: () => {
        if (!request.tty) child.stdin?.end();
      },
      resize: (rows, cols) => {
        terminal?.resize({ rows, cols });
      },
      close: () => {
        clientGone = true;
        terminal?.close();
        socket?.destroy();
      },
    };
  }
}

/** The reason at the end of a shim message ("…: No such file or directory") as Go spells errno texts. */
function goErrorText(shimMessage: string): string {
  const reason = shimMessage.slice(shimMessage.lastIndexOf(': ') + 2);
  return reason.charAt(0).toLowerCase() + reason.slice(1);
}
