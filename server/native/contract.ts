/**
 * The surface of capstan's Node-API addon (native/src). Native code makes syscalls and reports
 * errno; everything else (paths, validation, v1/v2 choice, retries) is decided in TypeScript.
 *
 * A per-file result is either the file's text or the errno of the failure (ENOENT = 2 means
 * "not there", which callers treat as "feature absent", not as an error).
 */
export type TextOrErrno = string | number;

export interface NativeBinding {
  /** Hands the addon the JS error class it throws (NativeError), as better-sqlite3 does. */
  initialize(errorClass: Function): void;
  /** Reads every path on a libuv worker thread; one call per collector tick. At most maxBytes per file. */
  readFiles(paths: readonly string[], maxBytes: number): Promise<TextOrErrno[]>;
  /** Same, on the calling thread (tests, one-shot tools). */
  readFilesSync(paths: readonly string[], maxBytes: number): TextOrErrno[];
  /** readlink(2) for every path (used for /proc/<pid>/ns/net). */
  readLinks(paths: readonly string[]): Promise<TextOrErrno[]>;
  /**
   * Walks each root recursively and returns the relative paths ("a", "a/b") of every
   * subdirectory, or the errno if the root itself cannot be opened. Symlinks are not followed.
   */
  listDirectories(roots: readonly string[]): Promise<Array<string[] | number>>;
  /** open(O_WRONLY|O_TRUNC) + one write(2) + close; throws NativeError with syscall and path. */
  writeFile(path: string, data: string): void;
}
