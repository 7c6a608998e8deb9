/**
 * Redrawing a frame in place on a terminal, as docker stats does: move the cursor home, write
 * each line followed by "erase to end of line" (a shorter line must not leave the tail of the
 * previous frame behind), then "erase below" (fewer rows than before). Pure.
 */

export const CLEAR_SCREEN = '\x1b[2J\x1b[H';
const HOME = '\x1b[H';
const ERASE_LINE = '\x1b[K';
const ERASE_BELOW = '\x1b[J';

/** The bytes that replace the screen's content with `text` (lines separated by "\n"). */
export function ttyFrame(text: string): string {
  const lines = text.split('\n');
  // The frame's final newline does not start another line.
  if (lines[lines.length - 1] === '') lines.pop();
  return HOME + lines.map((line) => line + ERASE_LINE + '\n').join('') + ERASE_BELOW;
}
