/**
 * Go's text/tabwriter (elastic tabstops), as docker's formatter uses it: docker calls
 * NewWriter(out, minwidth 10, tabwidth 1, padding 3, ' ', 0) on its own fork, which measures cell
 * width in terminal columns (go-runewidth) instead of runes. Pure: text in, text out.
 *
 * The rules that matter for matching docker byte for byte:
 * - Cells are tab-TERMINATED. The text after a line's last tab is not part of any column and is
 *   never padded, so lines carry no trailing spaces.
 * - A column is a run of consecutive lines that all have a terminated cell at that index; its
 *   width is max(cell width + padding, minwidth) over that run only.
 * Only the options docker uses are implemented (space padding, left alignment, no flags).
 */

export interface TabwriterOptions {
  /** Minimal cell width, padding included. Units: columns. */
  minWidth: number;
  /** Added to the widest cell of a column. Units: columns. */
  padding: number;
  /** Character used for padding. */
  padChar: string;
}

/** docker's table settings: tabwriter.NewWriter(out, 10, 1, 3, ' ', 0). */
export const DOCKER_TABLE: TabwriterOptions = { minWidth: 10, padding: 3, padChar: ' ' };

interface Cell {
  text: string;
  width: number;
}

/**
 * Display width in terminal columns, like go-runewidth's StringWidth: combining marks and
 * zero-width characters take none, East Asian wide/fullwidth characters and emoji take two.
 */
export function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (isZeroWidth(cp)) continue;
    width += isWide(cp) ? 2 : 1;
  }
  return width;
}

function isZeroWidth(cp: number): boolean {
  return (
    cp === 0 ||
    (cp >= 0x0300 && cp <= 0x036f) || // combining diacritical marks
    (cp >= 0x200b && cp <= 0x200f) || // zero-width space, joiners, direction marks
    (cp >= 0xfe00 && cp <= 0xfe0f) || // variation selectors
    (cp >= 0x1ab0 && cp <= 0x1aff) ||
    (cp >= 0x1dc0 && cp <= 0x1dff) ||
    (cp >= 0x20d0 && cp <= 0x20ff) ||
    (cp >= 0xfe20 && cp <= 0xfe2f)
  );
}

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) || // Hangul Jamo
    (cp >= 0x2e80 && cp <= 0x303e) || // CJK radicals, punctuation
    (cp >= 0x3041 && cp <= 0x33ff) || // kana, CJK compatibility
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) || // CJK unified ideographs
    (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) || // Hangul syllables
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) || // fullwidth forms
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) || // emoji
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

/**
 * Aligns tab-terminated cells into columns. `text` is what would be written to the Go writer
 * before Flush; the result is what Flush would emit.
 */
export function tabwrite(text: string, options: TabwriterOptions = DOCKER_TABLE): string {
  // Split into lines of cells. '\n' ends a line; the last line (after the final '\n', possibly
  // empty) is written without a newline, as Go does for the outstanding buffered cell.
  const lines: Cell[][] = text.split('\n').map((line) =>
    line.split('\t').map((cellText) => ({ text: cellText, width: displayWidth(cellText) })),
  );
  // Go terminates the unfinished cell of the last line at Flush only when it is non-empty, so
  // "a\t" at the very end leaves "a" as that line's last cell (outside any column).
  const last = lines[lines.length - 1]!;
  if (last[last.length - 1]!.text === '') last.pop();
  const out: string[] = [];
  const widths: number[] = [];

  const writeLines = (line0: number, line1: number): void => {
    for (let i = line0; i < line1; i++) {
      const line = lines[i]!;
      line.forEach((cell, j) => {
        out.push(cell.text);
        if (j < widths.length) out.push(options.padChar.repeat(Math.max(widths[j]! - cell.width, 0)));
      });
      if (i + 1 < lines.length) out.push('\n');
    }
  };

  // Mirrors Go's recursive format(): find each block of lines sharing a terminated cell in the
  // current column, fix that column's width, and recurse into the columns to its right.
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    for (let current = line0; current < line1; current++) {
      if (column >= lines[current]!.length - 1) continue;
      writeLines(line0, current);
      line0 = current;
      let width = options.minWidth;
      for (; current < line1; current++) {
        const line = lines[current]!;
        if (column >= line.length - 1) break;
        width = Math.max(width, line[column]!.width + options.padding);
      }
      widths.push(width);
      format(line0, current);
      widths.pop();
      line0 = current;
      // Like Go, the loop's increment now skips the line that ended the block: that line has no
      // cell in this column, so it could not start the next block anyway.
    }
    writeLines(line0, line1);
  };

  format(0, lines.length);
  return out.join('');
}
