/**
 * The REST client: every call carries the bearer token; errors keep the API's message word for
 * word ({"error": {"code", "message"}}), because the page shows them as the API wrote them.
 */
import { getToken } from './auth';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    /** HTTP status; 0 when the agent could not be reached. */
    readonly status: number,
    readonly code: string,
    message: string,
    /** The whole error object of the body (flag, file, errno, ...). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Called on a 401: the token is gone or wrong (the app sends the user to sign in). */
let onUnauthorized: (() => void) | undefined;
export function setUnauthorizedHandler(handler: () => void): void {
  onUnauthorized = handler;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  body?: unknown;
  signal?: AbortSignal;
  /** Use this token instead of the stored one (the sign-in page checks a pasted token). */
  token?: string;
}

async function send(path: string, options: RequestOptions): Promise<Response> {
  const token = options.token ?? getToken();
  const headers: Record<string, string> = {};
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(path, {
      method: options.method ?? 'GET',
      headers,
      ...(options.body !== undefined && { body: JSON.stringify(options.body) }),
      ...(options.signal && { signal: options.signal }),
      cache: 'no-store',
    });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError(0, 'unreachable', 'Cannot reach the agent.');
  }
  if (!response.ok) {
    let details: Record<string, unknown> = {};
    let message = `${response.status} ${response.statusText}`;
    let code = 'http_error';
    try {
      const body = (await response.json()) as { error?: Record<string, unknown> };
      if (body.error) {
        details = body.error;
        if (typeof body.error['message'] === 'string') message = body.error['message'];
        if (typeof body.error['code'] === 'string') code = body.error['code'];
      }
    } catch {
      // Not JSON: keep the status line.
    }
    if (response.status === 401 && options.token === undefined) onUnauthorized?.();
    throw new ApiError(response.status, code, message, details);
  }
  return response;
}

/** A JSON request; resolves with the parsed body (undefined for 204). */
export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const response = await send(path, options);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

/**
 * An NDJSON stream (logs, events): calls onItem per line until the response ends or `signal`
 * aborts. Resolves when the stream ends.
 */
export async function apiStream<T>(path: string, onItem: (item: T) => void, signal: AbortSignal): Promise<void> {
  const response = await send(path, { signal });
  if (!response.body) return;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.trim() !== '') onItem(JSON.parse(line) as T);
      }
    }
  } catch (error) {
    if ((error as Error).name !== 'AbortError' && !signal.aborted) throw error;
  }
}

/** The message to show for any failure. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A path segment for a container reference (cgroup paths contain "/"). */
export function ref(reference: string): string {
  return encodeURIComponent(reference);
}
