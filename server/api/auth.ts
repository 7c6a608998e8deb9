/**
 * Bearer-token authentication with two roles. The agent can change limits and start processes as
 * root, so every /api route needs a token; only /metrics may be open (and can be closed too).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { sendError } from './errors';

export type Role = 'viewer' | 'operator';

export interface TokenRecord {
  /** Who holds the token: recorded with every change it makes. */
  name: string;
  role: Role;
  token: string;
}

const ROLE_RANK: Record<Role, number> = { viewer: 0, operator: 1 };

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

export class TokenStore {
  private readonly entries: Array<{ digest: Buffer; record: TokenRecord }>;

  constructor(records: readonly TokenRecord[]) {
    this.entries = records.map((record) => ({ digest: digest(record.token), record }));
  }

  /** The token's record, compared in constant time so timing reveals nothing about valid tokens. */
  authenticate(token: string | undefined): TokenRecord | undefined {
    if (!token) return undefined;
    const candidate = digest(token);
    let match: TokenRecord | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, candidate)) match = entry.record;
    }
    return match;
  }
}

/**
 * Whether `candidate` is `expected`, in constant time: both are hashed first, so neither the
 * comparison nor the lengths reveal how much of a guess was right (the /metrics token).
 */
export function tokenMatches(expected: string, candidate: string | undefined): boolean {
  if (candidate === undefined) return false;
  return timingSafeEqual(digest(expected), digest(candidate));
}

/** Extracts the token from "Authorization: Bearer <token>". */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by requireRole once the bearer token is verified. */
      principal?: TokenRecord;
    }
  }
}

/** 401 without a valid token, 403 when the token's role is below `role`. */
export function requireRole(store: TokenStore, role: Role) {
  return (request: Request, response: Response, next: NextFunction): void => {
    const token = bearerToken(request.get('authorization'));
    const record = store.authenticate(token);
    if (!record) {
      response.set('WWW-Authenticate', 'Bearer realm="capstan"');
      sendError(response, 401, 'unauthorized', token ? 'the bearer token is not valid' : 'missing "Authorization: Bearer <token>" header');
      return;
    }
    if (ROLE_RANK[record.role] < ROLE_RANK[role]) {
      sendError(response, 403, 'forbidden', `this needs the ${role} role; the token "${record.name}" has the ${record.role} role`);
      return;
    }
    request.principal = record;
    next();
  };
}
