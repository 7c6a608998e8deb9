/**
 * Table-cell sparklines drawn straight on a small canvas: hundreds of rows would make hundreds of
 * chart.js instances stutter; a 2D polyline per visible row per tick costs next to nothing. The
 * canvas itself is created on the first draw, i.e. when the row first scrolls into view, so a
 * table of a thousand cgroups does not start with two thousand canvases. Values are decorative
 * (the cell beside shows the number), so the element is aria-hidden.
 */
import { cssVar, h } from './dom';

const WIDTH = 72;
const HEIGHT = 20;

export class Sparkline {
  /** A fixed-size placeholder that receives the canvas on the first draw. */
  readonly element: HTMLElement;
  private canvas: HTMLCanvasElement | undefined;
  private readonly values: Array<number | null> = [];
  private dirty = true;

  constructor(
    private readonly capacity: number,
    private readonly colorVar: string,
    /** The value drawn as the full height at least (100 for percentages); the max of the values otherwise. */
    private readonly floorMax = 0,
  ) {
    this.element = h('span', { class: 'spark', 'aria-hidden': 'true' });
  }

  set(values: ReadonlyArray<number | null>): void {
    this.values.length = 0;
    this.values.push(...values.slice(-this.capacity));
    this.dirty = true;
  }

  push(value: number | null | undefined): void {
    this.values.push(typeof value === 'number' && Number.isFinite(value) ? value : null);
    if (this.values.length > this.capacity) this.values.shift();
    this.dirty = true;
  }

  /** Redraws if anything changed since the last draw. */
  draw(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const ratio = window.devicePixelRatio || 1;
    if (!this.canvas) {
      this.canvas = h('canvas', { width: WIDTH * ratio, height: HEIGHT * ratio });
      this.element.appendChild(this.canvas);
    }
    const context = this.canvas.getContext('2d');
    if (!context) return;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, WIDTH, HEIGHT);
    let max = this.floorMax;
    for (const value of this.values) if (value !== null && value > max) max = value;
    if (max <= 0) max = 1;
    context.strokeStyle = cssVar(this.colorVar);
    context.lineWidth = 1.25;
    context.beginPath();
    const step = WIDTH / Math.max(1, this.capacity - 1);
    const offset = this.capacity - this.values.length;
    let drawing = false;
    this.values.forEach((value, index) => {
      if (value === null) {
        drawing = false;
        return;
      }
      const x = (offset + index) * step;
      const y = HEIGHT - 1 - (value / max) * (HEIGHT - 2);
      if (drawing) context.lineTo(x, y);
      else context.moveTo(x, y);
      drawing = true;
    });
    context.stroke();
  }
}
