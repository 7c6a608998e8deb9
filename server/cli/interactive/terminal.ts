/**
 * The terminal side of `capstan stats -i`, through terminal-kit (CommonJS, maintained; loaded only
 * on this path): the alternate screen, raw key input with terminal-kit's key names, resize events,
 * and drawing the lines render.ts made, rewriting only the lines that changed since the last frame
 * (over SSH a frame is a few hundred bytes, not the whole screen).
 *
 * Tones become attributes here. With colour off (NO_COLOR) only bold, dim, underline and inverse
 * are used, so every state still reads differently.
 */
import type { ScreenLine, Tone } from './render';

/** The part of terminal-kit's Terminal used here (the package ships no types). */
interface TerminalKitTerminal {
  width: number;
  height: number;
  fullscreen(on: boolean): void;
  hideCursor(hide?: boolean): void;
  grabInput(options: false | { mouse?: string | false }): void;
  moveTo(x: number, y: number): void;
  clear(): void;
  styleReset(): void;
  bold(): void;
  dim(): void;
  underline(): void;
  inverse(): void;
  red(): void;
  green(): void;
  yellow(): void;
  cyan(): void;
  white(): void;
  bgRed(): void;
  bgBlue(): void;
  noFormat(text: string): void;
  on(event: 'key', listener: (name: string) => void): void;
  on(event: 'resize', listener: (width: number, height: number) => void): void;
  off(event: string, listener: (...args: never[]) => void): void;
}

export interface Screen {
  width(): number;
  height(): number;
  draw(lines: readonly ScreenLine[]): void;
  onKey(listener: (key: string) => void): void;
  onResize(listener: (width: number, height: number) => void): void;
  /** Leaves the alternate screen and gives the terminal back as it was. */
  close(): void;
}

type Attribute = 'bold' | 'dim' | 'underline' | 'inverse' | 'red' | 'green' | 'yellow' | 'cyan' | 'white' | 'bgRed' | 'bgBlue';

const COLOR_STYLE: Record<Tone, Attribute[]> = {
  normal: [],
  dim: ['dim'],
  title: ['bgBlue', 'white', 'bold'],
  header: ['bold', 'underline'],
  selected: ['inverse'],
  flash: ['bgRed', 'white', 'bold'],
  oom: ['red', 'bold'],
  error: ['red'],
  info: ['green'],
  key: ['cyan', 'bold'],
  disabled: ['dim'],
  prompt: ['yellow', 'bold'],
};

const PLAIN_STYLE: Record<Tone, Attribute[]> = {
  normal: [],
  dim: ['dim'],
  title: ['inverse'],
  header: ['bold', 'underline'],
  selected: ['inverse'],
  flash: ['bold', 'underline'],
  oom: ['bold'],
  error: ['bold'],
  info: [],
  key: ['bold'],
  disabled: ['dim'],
  prompt: ['bold'],
};

/** NO_COLOR (no-color.org): present and not empty turns colours off. */
export function colorWanted(env: Readonly<Record<string, string | undefined>>): boolean {
  const value = env['NO_COLOR'];
  return value === undefined || value === '';
}

export function openTerminal(color: boolean): Screen {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const term = (require('terminal-kit') as { terminal: TerminalKitTerminal }).terminal;
  const styles = color ? COLOR_STYLE : PLAIN_STYLE;
  let previous: string[] = [];
  term.fullscreen(true);
  term.hideCursor(true);
  term.grabInput({ mouse: false });

  const keyListeners: Array<(key: string) => void> = [];
  const resizeListeners: Array<(width: number, height: number) => void> = [];
  const onKey = (name: string): void => keyListeners.forEach((l) => l(name));
  const onResize = (width: number, height: number): void => {
    previous = []; // everything is redrawn at the new size
    term.clear();
    resizeListeners.forEach((l) => l(width, height));
  };
  term.on('key', onKey);
  term.on('resize', onResize);

  return {
    width: () => term.width,
    height: () => term.height,
    draw(lines) {
      const next = lines.map((l) => JSON.stringify(l));
      for (let y = 0; y < lines.length; y++) {
        if (previous[y] === next[y]) continue;
        term.moveTo(1, y + 1);
        for (const segment of lines[y]!) {
          term.styleReset();
          for (const attribute of styles[segment.tone]) term[attribute]();
          term.noFormat(segment.text);
        }
        term.styleReset();
      }
      previous = next;
    },
    onKey: (listener) => keyListeners.push(listener),
    onResize: (listener) => resizeListeners.push(listener),
    close() {
      term.off('key', onKey);
      term.off('resize', onResize);
      term.styleReset();
      term.grabInput(false);
      term.hideCursor(false);
      term.fullscreen(false);
    },
  };
}
