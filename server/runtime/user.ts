/**
 * `-u name[:group]` to numeric ids, from the container's own /etc/passwd and /etc/group, as runc
 * does (the shim only takes numbers). Parsing is pure; reading walks the image's layers top down
 * without following symlinks, so a hostile image cannot make the agent read a host file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RuntimeError } from './errors';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** For HOME when the environment does not set it. */
  home: string;
}

/** Largest id the kernel takes (uid_t is 32 bits; -1 is "no change"). */
const MAX_ID = 0x7fffffff;

function idNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined;
  const value = Number(text);
  return value <= MAX_ID ? value : undefined;
}

/** passwd(5) lines "name:x:uid:gid:gecos:home:shell"; malformed lines are skipped, as libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const fields = line.split(':');
    if (fields.length < 7) continue;
    const uid = idNumber(fields[2]);
    const gid = idNumber(fields[3]);
    if (uid === undefined || gid === undefined || fields[0] === '') continue;
    entries.push({ name: fields[0]!, uid, gid, home: fields[5] || '/' });
  }
  return entries;
}

/** group(5) lines "name:x:gid:member,member". */
export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const fields = line.split(':');
    if (fields.length < 4) continue;
    const gid = idNumber(fields[2]);
    if (gid === undefined || fields[0] === '') continue;
    entries.push({ name: fields[0]!, gid, members: fields[3]!.split(',').filter(Boolean) });
  }
  return entries;
}

/**
 * runc's GetExecUser plus Docker's --group-add, with what Docker Engine 20.10 does (measured on
 * the same image): "" is root; a name must be in passwd, a number need not be (then gid 0, HOME
 * "/"); the group defaults to the user's primary group; the groups that list the user's name are
 * joined only when no group was given; `groupAdd` (names or gids) is always joined; and the
 * primary gid is always among the supplementary groups (/proc/self/status "Groups:" shows it).
 * `additionalGids` is what setgroups() gets, without duplicates.
 */
export function resolveUser(spec: string, passwdText: string | undefined, groupText: string | undefined, groupAdd: readonly string[] = []): ResolvedUser {
  const passwd = parsePasswd(passwdText ?? '');
  const groups = parseGroup(groupText ?? '');
  const [userPart = '', groupPart = ''] = spec.split(':');
  let uid = 0;
  let gid = 0;
  let home = '/';
  let userName: string | undefined;

  const numericUid = idNumber(userPart);
  // A number is always a uid (runc), even where a user has that number as a name.
  const entry = userPart === '' ? passwd.find((e) => e.uid === 0) : numericUid !== undefined ? passwd.find((e) => e.uid === numericUid) : passwd.find((e) => e.name === userPart);
  if (entry) {
    ({ uid, gid, home } = entry);
    userName = entry.name;
  } else if (userPart === '') {
    home = '/root';
  } else if (numericUid !== undefined) {
    uid = numericUid;
  } else {
    throw new RuntimeError(400, 'unknown_user', `unable to find user ${userPart}: no matching entries in passwd file`);
  }

  const memberships: number[] = [];
  if (groupPart !== '') {
    const numericGid = idNumber(groupPart);
    const group = numericGid !== undefined ? groups.find((g) => g.gid === numericGid) : groups.find((g) => g.name === groupPart);
    if (group) gid = group.gid;
    else if (numericGid !== undefined) gid = numericGid;
    else throw new RuntimeError(400, 'unknown_group', `unable to find group ${groupPart}: no matching entries in group file`);
  } else if (userName !== undefined) {
    for (const group of groups) if (group.members.includes(userName)) memberships.push(group.gid);
  }
  const additionalGids = [...new Set([gid, ...memberships, ...resolveGroupAdd(groupAdd, groups)])];
  return { uid, gid, additionalGids, home };
}

/** runc's GetAdditionalGroups: a group's name or gid from /etc/group, or any gid in range. */
function resolveGroupAdd(groupAdd: readonly string[], groups: readonly GroupEntry[]): number[] {
  return groupAdd.map((wanted) => {
    const byEntry = groups.find((g) => g.name === wanted || String(g.gid) === wanted);
    if (byEntry) return byEntry.gid;
    const numeric = idNumber(wanted);
    if (numeric !== undefined) return numeric;
    // Docker's own capital "Unable" (Engine 20.10, measured), unlike runc's -u messages.
    throw new RuntimeError(400, 'unknown_group', `Unable to find group ${wanted}: no matching entries in group file`);
  });
}

/** --group-add values a request may carry: a group name or a gid. */
export const GROUP_NAME_OR_ID = /^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,63}$/;

/** A file in a container's root is never read past this. Units: bytes. */
const MAX_ROOT_FILE_BYTES = 1024 * 1024;

/**
 * The text of `relative` (e.g. "etc/passwd") as the container will see it, from overlay layers
 * listed TOP FIRST (upper dir, then image layers). A symlink anywhere on the way, a whiteout, or an
 * opaque directory ends the search: undefined means "not there" (then only numeric ids work).
 */
export function readFromLayers(layersTopFirst: readonly string[], relative: string): string | undefined {
  const parts = relative.split('/').filter(Boolean);
  for (const layer of layersTopFirst) {
    let directory = layer;
    let stop = false;
    for (let index = 0; index < parts.length; index++) {
      const part = parts[index]!;
      const candidate = path.join(directory, part);
      // An overlay whiteout: a 0:0 character device in an upper dir, or ".wh.NAME" in an OCI layer.
      if (exists(path.join(directory, `.wh.${part}`))) return undefined;
      let stat: fs.Stats;
      try {
        stat = fs.lstatSync(candidate);
      } catch {
        // An opaque directory (OCI marker) hides the same directory in the layers below.
        stop = exists(path.join(directory, '.wh..wh..opq'));
        break;
      }
      if (stat.isCharacterDevice() && stat.rdev === 0) return undefined;
      if (stat.isSymbolicLink()) return undefined;
      if (index === parts.length - 1) {
        if (!stat.isFile() || stat.size > MAX_ROOT_FILE_BYTES) return undefined;
        return fs.readFileSync(candidate, 'utf8');
      }
      if (!stat.isDirectory()) return undefined;
      directory = candidate;
    }
    if (stop) return undefined;
  }
  return undefined;
}

function exists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}
