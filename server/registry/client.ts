/**
 * HTTP side of a pull and a push (OCI distribution API v2): manifests and blobs, with basic or
 * bearer-token auth, checked digests and a stall time-out. Parsing lives in manifest.ts and reference.ts.
 *
 * Why node:http and not undici: a pull holds a handful of long streams; the stall time-out is an
 * idle timer on each response, which node:http gives directly.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import { RegistryError } from './errors';
import { MANIFEST_ACCEPT, parseWwwAuthenticate } from './manifest';
import { allowsPlainHttp, type RemoteReference } from './reference';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryClientOptions {
  credentials?: RegistryCredentials;
  /** Registries plain HTTP may be used for besides loopback ones (`--insecure-registry`). */
  insecureRegistries?: readonly string[];
  /** No byte for this long fails the request. Units: milliseconds. */
  stallTimeoutMs?: number;
}

/** Default stall time-out: docker's own is long; a stalled loopback registry should not hold a pull for minutes. Units: milliseconds. */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;
/** Largest manifest read. Units: bytes. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_REDIRECTS = 5;

interface Answer {
  response: http.IncomingMessage;
  url: URL;
}

export class RegistryClient {
  private readonly base: string;
  private readonly stallMs: number;
  /** The Authorization header that worked last (a bearer token, or basic). */
  private authorization: string | undefined;

  constructor(
    private readonly reference: RemoteReference,
    private readonly options: RegistryClientOptions = {},
  ) {
    const plain = allowsPlainHttp(reference.registry, options.insecureRegistries);
    this.base = `${plain ? 'http' : 'https'}://${reference.registry}`;
    this.stallMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  }

  /**
   * One request. `body` (a push's) is made by a function so that a retry after the auth dance
   * sends it anew; only GET and HEAD follow redirects.
   */
  private send(url: URL, headers: Record<string, string>, redirects = 0, method = 'GET', body?: () => Readable | Buffer): Promise<Answer> {
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      // A connection per request (agent: false): the stall timer lives on the socket, and a pooled
      // socket would carry it past the answer it was set for.
      const request = transport.request(url, { method, agent: false, headers: { 'user-agent': 'capstan', ...headers } }, (response) => {
        const status = response.statusCode ?? 0;
        const location = response.headers.location;
        if ((method === 'GET' || method === 'HEAD') && [301, 302, 303, 307, 308].includes(status) && location && redirects < MAX_REDIRECTS) {
          response.resume();
          const next = new URL(location, url);
          // The registry's own credentials are not sent to another host (blob storage redirects).
          const nextHeaders = next.host === url.host ? headers : Object.fromEntries(Object.entries(headers).filter(([key]) => key !== 'authorization'));
          this.send(next, nextHeaders, redirects + 1).then(resolve, reject);
          return;
        }
        response.setTimeout(this.stallMs, () => {
          if (!response.complete) response.destroy(this.stalled(url));
        });
        resolve({ response, url });
      });
      request.setTimeout(this.stallMs, () => request.destroy(this.stalled(url)));
      request.on('error', (error) => {
        reject(error instanceof RegistryError ? error : new RegistryError(502, 'registry_error', `${this.reference.registry}: ${url.pathname}: ${(error as NodeJS.ErrnoException).code ?? error.message}`, {}, { cause: error }));
      });
      const content = body?.();
      if (content === undefined || Buffer.isBuffer(content)) {
        request.end(content);
      } else {
        content.on('error', (error) => request.destroy(error));
        content.pipe(request);
      }
    });
  }

  /** A push's request, with the auth dance of get(): a 401 fetches a token (or uses basic auth) and sends again, once. */
  private async authorized(method: string, url: URL, headers: Record<string, string>, body?: () => Readable | Buffer): Promise<Answer> {
    const withAuth = (): Record<string, string> => ({ ...headers, ...(this.authorization ? { authorization: this.authorization } : {}) });
    let answer = await this.send(url, withAuth(), 0, method, body);
    if (answer.response.statusCode === 401) {
      const challenge = answer.response.headers['www-authenticate'];
      answer.response.resume();
      try {
        this.authorization = await this.authorize(typeof challenge === 'string' ? challenge : undefined, 'pull,push');
      } catch (error) {
        // authorize() words a refusal for a pull.
        if (error instanceof RegistryError && error.code === 'registry_unauthorized') throw this.pushRefused();
        throw error;
      }
      answer = await this.send(url, withAuth(), 0, method, body);
      if (answer.response.statusCode === 401) {
        answer.response.resume();
        throw this.pushRefused();
      }
    }
    if (answer.response.statusCode === 403) {
      answer.response.resume();
      throw this.pushRefused();
    }
    return answer;
  }

  private pushRefused(): RegistryError {
    const who = this.options.credentials ? `the credentials for ${this.reference.registry} were refused` : `no credentials for ${this.reference.registry}: capstan login ${this.reference.registry}`;
    return new RegistryError(401, 'registry_unauthorized', `denied: requested access to ${this.reference.registry}/${this.reference.repository} is denied (${who})`);
  }

  private repositoryUrl(path: string): URL {
    return new URL(`${this.base}/v2/${this.reference.repository}/${path}`);
  }

  /** HEAD of a blob: whether the registry has it already (docker's "Layer already exists"). */
  async hasBlob(digest: string): Promise<boolean> {
    const answer = await this.authorized('HEAD', this.repositoryUrl(`blobs/${digest}`), {});
    answer.response.resume();
    if (answer.response.statusCode === 200) return true;
    if (answer.response.statusCode === 404) return false;
    throw this.statusError(answer, `blob ${digest}`);
  }

  /**
   * Uploads the blob in `file` (`size` bytes, digest `digest`): POST opens an upload session, one
   * PUT with the digest sends it whole (the registry checks the digest and refuses a mismatch).
   * `onBytes` gets each chunk's size as it is read. Units: size in bytes.
   */
  async uploadBlob(file: string, digest: string, size: number, onBytes: (bytes: number) => void = () => undefined): Promise<void> {
    const opened = await this.authorized('POST', this.repositoryUrl('blobs/uploads/'), { 'content-length': '0' });
    opened.response.resume();
    const location = opened.response.headers.location;
    if (opened.response.statusCode !== 202 || typeof location !== 'string') throw this.statusError(opened, `upload of ${digest}`);
    const target = new URL(location, opened.url);
    target.searchParams.set('digest', digest);
    const body = (): Readable => {
      const stream = fs.createReadStream(file, { highWaterMark: 256 * 1024 });
      stream.on('data', (chunk) => onBytes(chunk.length));
      return stream;
    };
    const put = await this.authorized('PUT', target, { 'content-type': 'application/octet-stream', 'content-length': String(size) }, body);
    put.response.resume();
    if (put.response.statusCode !== 201) throw this.statusError(put, `upload of ${digest}`);
  }

  /** PUT of a manifest under `tag`; resolves with its digest (the registry's Docker-Content-Digest, checked). */
  async putManifest(tag: string, mediaType: string, manifest: string): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(manifest, 'utf8').digest('hex')}`;
    const answer = await this.authorized('PUT', this.repositoryUrl(`manifests/${tag}`), { 'content-type': mediaType, 'content-length': String(Buffer.byteLength(manifest)) }, () =>
      Buffer.from(manifest, 'utf8'),
    );
    answer.response.resume();
    if (answer.response.statusCode !== 201) throw this.statusError(answer, `manifest ${tag}`);
    const stated = answer.response.headers['docker-content-digest'];
    if (typeof stated === 'string' && stated !== digest) throw new RegistryError(502, 'digest_mismatch', `manifest ${tag}: the registry stored it as ${stated}, its content has digest ${digest}`);
    return digest;
  }

  private stalled(url: URL): RegistryError {
    return new RegistryError(504, 'registry_timeout', `${this.reference.registry}: no data for ${Math.round(this.stallMs / 1000)} s on ${url.pathname}: the registry stalled`);
  }

  /** GET with the registry's auth dance: on a 401, fetch a bearer token (or use basic auth) and ask again, once. */
  private async get(path: string, accept?: string): Promise<Answer> {
    const url = new URL(`${this.base}/v2/${path === '' ? '' : `${this.reference.repository}/${path}`}`);
    const headers = (): Record<string, string> => ({ ...(accept ? { accept } : {}), ...(this.authorization ? { authorization: this.authorization } : {}) });
    let answer = await this.send(url, headers());
    if (answer.response.statusCode === 401) {
      const challenge = answer.response.headers['www-authenticate'];
      answer.response.resume();
      this.authorization = await this.authorize(typeof challenge === 'string' ? challenge : undefined);
      answer = await this.send(url, headers());
      if (answer.response.statusCode === 401) {
        answer.response.resume();
        throw this.unauthorized();
      }
    }
    return answer;
  }

  private unauthorized(): RegistryError {
    if (this.reference.repository === '') {
      return new RegistryError(401, 'registry_unauthorized', `login to ${this.reference.registry} failed: ${this.options.credentials ? 'unauthorized: incorrect username or password' : 'no credentials given'}`);
    }
    const who = this.options.credentials ? `the credentials for ${this.reference.registry} were refused` : `no credentials for ${this.reference.registry}`;
    return new RegistryError(
      401,
      'registry_unauthorized',
      `pull access denied for ${this.reference.registry}/${this.reference.repository}, repository does not exist or may require 'capstan login': ${who}`,
    );
  }

  private basic(): string | undefined {
    const credentials = this.options.credentials;
    return credentials ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` : undefined;
  }

  /** The Authorization header a challenge asks for. */
  private async authorize(header: string | undefined, actions = 'pull'): Promise<string> {
    const challenge = header !== undefined ? parseWwwAuthenticate(header) : undefined;
    if (!challenge || challenge.scheme === 'basic') {
      const basic = this.basic();
      if (!basic) throw this.unauthorized();
      return basic;
    }
    const realm = challenge.params['realm'];
    if (!realm) throw new RegistryError(502, 'registry_error', `${this.reference.registry}: a Bearer challenge without a realm`);
    const tokenUrl = new URL(realm);
    if (tokenUrl.protocol !== 'https:' && !(tokenUrl.protocol === 'http:' && allowsPlainHttp(tokenUrl.host, this.options.insecureRegistries))) {
      throw new RegistryError(400, 'insecure_registry', `${this.reference.registry}: refusing to send credentials to the plain-HTTP token service ${tokenUrl.host}`);
    }
    if (challenge.params['service']) tokenUrl.searchParams.set('service', challenge.params['service']);
    const scope = challenge.params['scope'] ?? (this.reference.repository !== '' ? `repository:${this.reference.repository}:${actions}` : undefined);
    if (scope !== undefined) tokenUrl.searchParams.set('scope', scope);
    const basic = this.basic();
    const { response } = await this.send(tokenUrl, basic ? { authorization: basic } : {});
    const body = await readBody(response, MAX_MANIFEST_BYTES);
    if (response.statusCode === 401 || response.statusCode === 403) throw this.unauthorized();
    if (response.statusCode !== 200) throw new RegistryError(502, 'registry_error', `${tokenUrl.host}: the token service answered ${response.statusCode}`);
    let token: unknown;
    try {
      const json = JSON.parse(body) as { token?: unknown; access_token?: unknown };
      token = json.token ?? json.access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || token === '') throw new RegistryError(502, 'registry_error', `${tokenUrl.host}: the token service gave no token`);
    return `Bearer ${token}`;
  }

  private statusError(answer: Answer, what: string): RegistryError {
    const status = answer.response.statusCode ?? 0;
    if (status === 404) return new RegistryError(404, 'manifest_unknown', `${what}: not found in ${this.reference.registry}/${this.reference.repository}`);
    return new RegistryError(502, 'registry_error', `${what}: ${this.reference.registry} answered ${status} ${answer.response.statusMessage ?? ''}`.trimEnd());
  }

  /**
   * `capstan login`'s check: GET /v2/ with the credentials, through the same auth dance a pull
   * does. Throws registry_unauthorized when they are refused.
   */
  async checkLogin(): Promise<void> {
    const answer = await this.get('');
    answer.response.resume();
    if (answer.response.statusCode !== 200) throw this.statusError(answer, 'login');
  }

  /**
   * The manifest for a tag or digest, with its digest. A manifest asked by digest must hash to it;
   * one asked by tag must hash to the Docker-Content-Digest the registry states, when it states one.
   */
  async manifest(tagOrDigest: string): Promise<{ body: string; contentType: string; digest: string }> {
    const answer = await this.get(`manifests/${tagOrDigest}`, MANIFEST_ACCEPT);
    if (answer.response.statusCode !== 200) {
      answer.response.resume();
      throw this.statusError(answer, `manifest ${tagOrDigest}`);
    }
    const body = await readBody(answer.response, MAX_MANIFEST_BYTES);
    const digest = `sha256:${createHash('sha256').update(body, 'utf8').digest('hex')}`;
    const stated = answer.response.headers['docker-content-digest'];
    const expected = tagOrDigest.startsWith('sha256:') ? tagOrDigest : typeof stated === 'string' && stated.startsWith('sha256:') ? stated : undefined;
    if (expected !== undefined && expected !== digest) {
      throw new RegistryError(400, 'digest_mismatch', `manifest ${tagOrDigest}: its content has digest ${digest}, expected ${expected}`);
    }
    return { body, contentType: String(answer.response.headers['content-type'] ?? ''), digest };
  }

  /**
   * Streams blob `digest` into `target`: written to `target`.partial, hashed as it arrives, renamed
   * only when its size and sha256 match. `onBytes` gets each chunk's size (for progress and the budget,
   * which may throw to stop the download). Units: size in bytes.
   */
  async blob(digest: string, size: number, target: string, onBytes: (bytes: number) => void): Promise<void> {
    const answer = await this.get(`blobs/${digest}`);
    const { response } = answer;
    if (response.statusCode !== 200) {
      response.resume();
      throw this.statusError(answer, `blob ${digest}`);
    }
    // A name of its own, so two pulls of the same blob at once do not write into one file.
    const partial = `${target}.${randomBytes(4).toString('hex')}.partial`;
    const hash = createHash('sha256');
    let received = 0;
    const out = fs.createWriteStream(partial, { mode: 0o600 });
    try {
      await new Promise<void>((resolve, reject) => {
        const fail = (error: Error): void => {
          response.destroy();
          out.destroy();
          reject(error);
        };
        response.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > size) {
            fail(new RegistryError(400, 'digest_mismatch', `blob ${digest}: the registry sent more than the ${size} bytes the manifest states`));
            return;
          }
          try {
            onBytes(chunk.length);
          } catch (error) {
            fail(error as Error);
            return;
          }
          hash.update(chunk);
          if (!out.write(chunk)) {
            response.pause();
            out.once('drain', () => response.resume());
          }
        });
        response.on('error', (error) =>
          fail(error instanceof RegistryError ? error : new RegistryError(502, 'truncated_blob', `blob ${digest}: the connection closed after ${received} of ${size} bytes (${error.message})`)),
        );
        // Not 'aborted': it comes before the 'error' a stall's destroy() carries, and would hide it.
        response.on('close', () => {
          if (!response.complete) fail(new RegistryError(502, 'truncated_blob', `blob ${digest}: the connection closed after ${received} of ${size} bytes`));
        });
        response.on('end', () => {
          if (received !== size) {
            fail(new RegistryError(502, 'truncated_blob', `blob ${digest}: the registry sent ${received} of ${size} bytes`));
            return;
          }
          out.end(() => resolve());
        });
        out.on('error', fail);
      });
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest) throw new RegistryError(400, 'digest_mismatch', `blob ${digest}: its content has digest ${actual}`);
      fs.renameSync(partial, target);
    } finally {
      fs.rmSync(partial, { force: true });
    }
  }
}

function readBody(response: http.IncomingMessage, maxBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    response.on('data', (chunk: Buffer) => {
      length += chunk.length;
      if (length > maxBytes) {
        response.destroy(new RegistryError(502, 'registry_error', `a registry answer is larger than ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    response.on('error', reject);
    response.on('close', () => {
      if (!response.complete) reject(new RegistryError(502, 'truncated_blob', 'the registry closed the connection mid-answer'));
    });
    response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}
