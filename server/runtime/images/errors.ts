/**
 * Image store failures. An ImageError is a RuntimeError (status + stable code), so the API answers
 * with the right status without knowing about images; a refused archive entry also names itself.
 *
 *   400 unsupported_archive, unsafe_entry, bad_archive, invalid_reference, digest_mismatch,
 *       no_root_filesystem
 *   404 no_such_image
 *   409 image_in_use
 *   413 image_too_large, too_many_entries, compression_ratio (budget.ts: --image-max-size,
 *       --image-max-entries, --image-max-ratio)
 *   507 insufficient_storage (the image store's file system is too full)
 *   500 anything the host refused while extracting (the message names the syscall and path)
 */
import { quoteInput, RuntimeError } from '../errors';

export class ImageError extends RuntimeError {
  override name = 'ImageError';

  constructor(
    status: number,
    code: string,
    message: string,
    /** The archive entry that was refused, as written in the archive. */
    readonly entry?: string,
    options?: { cause?: unknown },
  ) {
    super(status, code, message, {}, options);
  }
}

/** An archive entry that would write outside the layer: `..`, absolute paths, links out. */
export function unsafeEntry(entry: string, why: string): ImageError {
  return new ImageError(400, 'unsafe_entry', `refusing archive entry ${quoteInput(entry, 200)}: ${why}`, entry);
}

export function badArchive(message: string): ImageError {
  return new ImageError(400, 'bad_archive', message);
}

export function noSuchImage(reference: string): ImageError {
  return new ImageError(404, 'no_such_image', `No such image: ${quoteInput(reference).slice(1, -1)}`);
}
