/**
 * A real registry for tests and benchmarks: Debian's docker-registry (distribution 2.8) on a free
 * 127.0.0.1 port, with its config, storage and log in a directory of the caller's, optionally
 * behind htpasswd (bcrypt) auth; and pushes through the registry API (what `docker push` does).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { eventually, freePort } from './wait';

export const DOCKER_REGISTRY = '/usr/bin/docker-registry';
export const HTPASSWD = '/usr/bin/htpasswd';

export const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

export interface TestRegistry {
  /** 127.0.0.1:PORT */
  address: string;
  pid: number;
  /** SIGTERM, and waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (an exit hook, a signal handler). */
  stopSync(): void;
}

export async function startRegistry(directory: string, auth?: { username: string; password: string }): Promise<TestRegistry> {
  fs.mkdirSync(directory, { recursive: true });
  const port = await freePort();
  const lines = ['version: 0.1', 'log:', '  level: warn', 'storage:', '  filesystem:', `    rootdirectory: ${directory}/data`, 'http:', `  addr: 127.0.0.1:${port}`];
  if (auth) {
    // bcrypt, which distribution's htpasswd reader requires.
    execFileSync(HTPASSWD, ['-Bbc', path.join(directory, 'htpasswd'), auth.username, auth.password], { stdio: 'ignore' });
    lines.push('auth:', '  htpasswd:', '    realm: capstan-test', `    path: ${directory}/htpasswd`);
  }
  fs.writeFileSync(path.join(directory, 'config.yml'), lines.join('\n') + '\n');
  const child: ChildProcess = spawn(DOCKER_REGISTRY, ['serve', path.join(directory, 'config.yml')], { stdio: ['ignore', 'ignore', fs.openSync(path.join(directory, 'log'), 'w')] });
  const address = `127.0.0.1:${port}`;
  const registry: TestRegistry = {
    address,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
    stopSync: () => {
      if (child.exitCode === null && child.signalCode === null) spawnSync('kill', ['-KILL', String(child.pid)]);
    },
  };
  try {
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`docker-registry exited ${child.exitCode}: ${fs.readFileSync(path.join(directory, 'log'), 'utf8')}`);
        const response = await fetch(`http://${address}/v2/`).catch(() => undefined);
        return response !== undefined && (response.status === 200 || response.status === 401) ? true : undefined;
      },
      30_000,
      `docker-registry on ${address}`,
    );
  } catch (error) {
    await registry.stop();
    throw error;
  }
  return registry;
}

/** Uploads a blob (monolithic: POST then PUT ?digest=). */
export async function pushBlob(registry: string, repository: string, blob: Buffer, authorization?: string): Promise<void> {
  const headers: Record<string, string> = authorization ? { authorization } : {};
  const start = await fetch(`http://${registry}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers });
  if (start.status !== 202) throw new Error(`upload start: ${start.status}`);
  const url = new URL(start.headers.get('location')!, `http://${registry}`);
  url.searchParams.set('digest', sha256(blob));
  const put = await fetch(url, { method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream' }, body: blob });
  if (put.status !== 201) throw new Error(`upload: ${put.status} ${await put.text()}`);
}

export async function pushManifest(registry: string, repository: string, reference: string, mediaType: string, body: string, authorization?: string): Promise<void> {
  const put = await fetch(`http://${registry}/v2/${repository}/manifests/${reference}`, { method: 'PUT', headers: { 'content-type': mediaType, ...(authorization ? { authorization } : {}) }, body });
  if (put.status !== 201) throw new Error(`manifest ${reference}: ${put.status} ${await put.text()}`);
}
