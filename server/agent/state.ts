/**
 * The agent's state directory: tokens (0600, created on first start) and agent.json, which tells
 * the CLI where the running agent listens. Files are written atomically (write, fsync, rename) so a
 * crash never leaves half a file.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Role, TokenRecord } from '../api/auth';
import { writeFileAtomic } from '../storage/atomic-file';

export function ensureStateDir(stateDir: string): void {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
}

function newToken(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * Loads the tokens, creating a viewer and an operator token on first start. Returns whether they
 * were just created, so the agent prints the dashboard URL only then.
 */
export function loadOrCreateTokens(stateDir: string): { tokens: TokenRecord[]; created: boolean } {
  const file = path.join(stateDir, 'tokens.json');
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { tokens?: unknown };
    const tokens = validateTokens(parsed.tokens, file);
    return { tokens, created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const tokens: TokenRecord[] = [
    { name: 'viewer', role: 'viewer', token: newToken() },
    { name: 'operator', role: 'operator', token: newToken() },
  ];
  writeFileAtomic(file, JSON.stringify({ tokens }, null, 2) + '\n', 0o600);
  return { tokens, created: true };
}

function validateTokens(value: unknown, file: string): TokenRecord[] {
  if (!Array.isArray(value) || value.length === 0) throw new Error(`${file}: "tokens" must be a non-empty array`);
  return value.map((entry, index) => {
    const record = entry as Partial<TokenRecord>;
    const roles: Role[] = ['viewer', 'operator'];
    if (typeof record.name !== 'string' || typeof record.token !== 'string' || record.token.length < 16 || !roles.includes(record.role as Role)) {
      throw new Error(`${file}: tokens[${index}] needs a name, a role (viewer|operator) and a token of at least 16 characters`);
    }
    return { name: record.name, role: record.role as Role, token: record.token };
  });
}

export interface AgentFile {
  url: string;
  pid: number;
  startedAt: string;
  version: string;
}

export function writeAgentFile(stateDir: string, agent: AgentFile): void {
  writeFileAtomic(path.join(stateDir, 'agent.json'), JSON.stringify(agent, null, 2) + '\n', 0o644);
}

/** Removes agent.json if it still names this process (another agent may have taken over). */
export function removeAgentFile(stateDir: string, pid: number): void {
  const file = path.join(stateDir, 'agent.json');
  try {
    const agent = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<AgentFile>;
    if (agent.pid === pid) fs.unlinkSync(file);
  } catch {
    // Already gone or unreadable: nothing to clean up.
  }
}
