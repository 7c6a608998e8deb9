/**
 * Container names and ids. A name ends up in paths, cgroup attributes, terminals and JSON, so only
 * docker's safe alphabet is accepted, checked before anything touches the filesystem. Pure apart
 * from the random source.
 */
import { randomBytes } from 'node:crypto';
import { badRequest, quoteInput, quoteReference } from './errors';

/** docker's rule (daemon/names: RestrictedNamePattern), with a length bound of our own. */
export const CONTAINER_NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
export const MAX_NAME_LENGTH = 128;
const ID_PATTERN = /^[0-9a-f]{64}$/;

/** Accepts "name" or docker's "/name"; returns the bare name or throws a 400 RuntimeError. */
export function validateContainerName(input: unknown): string {
  if (typeof input !== 'string') throw badRequest('invalid_name', 'the container name must be a string');
  const name = input.startsWith('/') ? input.slice(1) : input;
  if (name.length === 0) throw badRequest('invalid_name', 'the container name must not be empty');
  if (name.length > MAX_NAME_LENGTH) {
    throw badRequest('invalid_name', `Invalid container name (${quoteInput(name, 40)}, ${name.length} characters): at most ${MAX_NAME_LENGTH} characters are allowed`);
  }
  if (!CONTAINER_NAME_PATTERN.test(name)) {
    throw badRequest('invalid_name', `Invalid container name (${quoteReference(name)}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  // 64 hex digits would be read as an id by every lookup: docker refuses such names too.
  if (ID_PATTERN.test(name)) throw badRequest('invalid_name', `Invalid container name (${name}): a name must not look like a container id`);
  return name;
}

export function isContainerId(text: string): boolean {
  return ID_PATTERN.test(text);
}

/** 64 random hex digits, like docker's ids. */
export function newContainerId(random: (size: number) => Buffer = randomBytes): string {
  for (;;) {
    const id = random(32).toString('hex');
    // docker avoids ids that are all digits (they would parse as numbers in some tools).
    if (!/^\d+$/.test(id.slice(0, 12))) return id;
  }
}

const ADJECTIVES = [
  'brave', 'calm', 'clever', 'eager', 'fervent', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry', 'nimble',
  'patient', 'quiet', 'relaxed', 'serene', 'sharp', 'steady', 'sturdy', 'tender', 'trusty', 'vivid', 'wise', 'zealous',
];
/** Sea and harbour words, after the capstan that hauls the anchor. */
const NOUNS = [
  'anchor', 'beacon', 'bollard', 'buoy', 'cleat', 'compass', 'dinghy', 'ferry', 'galley', 'harbor', 'hawser', 'jetty',
  'keel', 'lantern', 'mast', 'mooring', 'pier', 'rudder', 'schooner', 'sextant', 'skiff', 'tiller', 'wharf', 'winch',
];

/** A random "adjective_noun" name not in `taken` (a digit is appended when needed, as docker does). */
export function generateContainerName(taken: (name: string) => boolean, random: (size: number) => Buffer = randomBytes): string {
  for (let attempt = 0; ; attempt++) {
    const bytes = random(3);
    let name = `${ADJECTIVES[bytes[0]! % ADJECTIVES.length]}_${NOUNS[bytes[1]! % NOUNS.length]}`;
    if (attempt > 0) name += String(bytes[2]! % 10);
    if (!taken(name)) return name;
  }
}
