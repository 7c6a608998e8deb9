import type { Response } from 'express';

/** Every API error has one shape: {"error": {"code", "message"}} with a 4xx/5xx status. */
export function sendError(response: Response, status: number, code: string, message: string): void {
  response.status(status).json({ error: { code, message } });
}

/** An error a route throws to answer with a given status. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}
