/**
 * A real registry for tests and benchmarks: Debian's docker-registry (distribution 2.8) on a free
 * 127.0.0.1 port, with its config, storage and log in a directory of the caller's, optionally
 * behind htpasswd (bcrypt) auth; and pushes through the registry API (what `docker push` does).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { eventually, freePort } from './wait';

export const DOCKER_REGISTRY = '/usr/bin/docker-registry';
export const HTPASSWD = '/usr/bin/htpasswd';

export const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

export interface TestRegistry {
  /** 127.0.0.1:PORT */
  address: string;
  pid: number;
  /** With token auth: what the token service was asked, `basic USER SCOPE`, `anonymous SCOPE` or `refused USER SCOPE`. */
  tokenRequests: string[];
  /** SIGTERM, and waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (an exit hook, a signal handler). */
  stopSync(): void;
}

export interface RegistryAuth {
  username: string;
  password: string;
  /**
   * htpasswd (default): the registry asks for basic auth itself. token: the registry sends a
   * Bearer challenge to a token service of the test's (startTokenService), which checks the
   * password and signs a JWT the registry verifies against the service's certificate.
   */
  scheme?: 'htpasswd' | 'token';
}

export async function startRegistry(directory: string, auth?: RegistryAuth): Promise<TestRegistry> {
  fs.mkdirSync(directory, { recursive: true });
  const port = await freePort();
  const lines = ['version: 0.1', 'log:', '  level: warn', 'storage:', '  filesystem:', `    rootdirectory: ${directory}/data`, 'http:', `  addr: 127.0.0.1:${port}`];
  let tokenService: TokenService | undefined;
  if (auth && auth.scheme === 'token') {
    tokenService = await startTokenService(directory, auth);
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${tokenService.realm}`,
      `    service: ${TOKEN_AUDIENCE}`,
      `    issuer: ${TOKEN_ISSUER}`,
      `    rootcertbundle: ${tokenService.certificateFile}`,
    );
  } else if (auth) {
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
    tokenRequests: tokenService?.requests ?? [],
    stop: async () => {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
      await tokenService?.close();
    },
    stopSync: () => {
      if (child.exitCode === null && child.signalCode === null) spawnSync('kill', ['-KILL', String(child.pid)]);
      tokenService?.closeSync();
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

const TOKEN_ISSUER = 'capstan-test-token-issuer';
const TOKEN_AUDIENCE = 'capstan-test-registry';
export const OPENSSL = '/usr/bin/openssl';

interface TokenService {
  /** http://127.0.0.1:PORT/token */
  realm: string;
  certificateFile: string;
  /** Requests seen: `basic USER` or `anonymous`, with the scope asked for. */
  requests: string[];
  close(): Promise<void>;
  closeSync(): void;
}

const base64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

/**
 * A token service as distribution's token auth expects one (docs: "Token Authentication
 * Specification"): GET /token?service=S&scope=repository:NAME:ACTIONS, with basic auth for a
 * user. A known user gets the actions asked for; no credentials gets a token with no access (the
 * registry then answers 401 again); a wrong password gets 401. The token is an ES256 JWT whose
 * x5c header carries a self-signed certificate (made with openssl), the registry's rootcertbundle.
 */
async function startTokenService(directory: string, auth: RegistryAuth): Promise<TokenService> {
  const keyFile = path.join(directory, 'token-key.pem');
  const certificateFile = path.join(directory, 'token-cert.pem');
  execFileSync(OPENSSL, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certificateFile, '-days', '2', '-subj', '/CN=capstan-test-token'], { stdio: 'ignore' });
  const key = createPrivateKey(fs.readFileSync(keyFile));
  const certificateDer = new X509Certificate(fs.readFileSync(certificateFile)).raw;
  const requests: string[] = [];
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const scope = url.searchParams.get('scope') ?? '';
    const header = request.headers.authorization ?? '';
    let user: string | undefined;
    if (header.startsWith('Basic ')) {
      const [name, ...password] = Buffer.from(header.slice(6), 'base64').toString().split(':');
      if (name !== auth.username || password.join(':') !== auth.password) {
        requests.push(`refused ${name} ${scope}`);
        response.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ details: 'incorrect username or password' }));
        return;
      }
      user = name;
    }
    requests.push(`${user === undefined ? 'anonymous' : `basic ${user}`} ${scope}`);
    const access = user === undefined ? [] : scope.split(' ').filter(Boolean).map((item) => {
      const [type, name, actions] = item.split(':');
      return { type, name, actions: (actions ?? '').split(',').filter(Boolean) };
    });
    const now = Math.floor(Date.now() / 1000);
    const head = base64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [certificateDer.toString('base64')] }));
    const claims = base64url(JSON.stringify({ iss: TOKEN_ISSUER, sub: user ?? '', aud: url.searchParams.get('service') ?? '', exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access }));
    const signature = sign('sha256', Buffer.from(`${head}.${claims}`), { key, dsaEncoding: 'ieee-p1363' });
    const token = `${head}.${claims}.${base64url(signature)}`;
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date(now * 1000).toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    certificateFile,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    closeSync: () => {
      server.close();
    },
  };
}
