/**
 * Which body a scraper gets: the exposition format from `Accept`, gzip from `Accept-Encoding`.
 * Prometheus asks for OpenMetrics first (`application/openmetrics-text;version=1.0.0,…,
 * text/plain;version=0.0.4;q=0.5,*\/*;q=0.1`) and always sends `Accept-Encoding: gzip`. Pure.
 */
import type { ExpositionFormat } from './exposition';

interface MediaRange {
  type: string;
  params: Map<string, string>;
  /** Quality, 0 to 1. */
  q: number;
}

function parseList(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of header.split(',')) {
    const [typePart, ...paramParts] = part.split(';');
    const type = typePart!.trim().toLowerCase();
    if (type === '') continue;
    const params = new Map<string, string>();
    for (const param of paramParts) {
      const eq = param.indexOf('=');
      if (eq === -1) continue;
      params.set(param.slice(0, eq).trim().toLowerCase(), param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1'));
    }
    const qText = params.get('q');
    const q = qText === undefined ? 1 : Number(qText);
    ranges.push({ type, params, q: Number.isFinite(q) ? Math.min(Math.max(q, 0), 1) : 0 });
  }
  return ranges;
}

/** The format a media range asks for, if one Capstan writes. */
function formatOf(range: MediaRange): ExpositionFormat | undefined {
  const version = range.params.get('version');
  if (range.type === 'application/openmetrics-text') return version === undefined || version === '1.0.0' ? 'openmetrics' : undefined;
  if (range.type === 'text/plain') return version === undefined || version === '0.0.4' ? 'text' : undefined;
  if (range.type === '*/*' || range.type === 'text/*') return 'text';
  return undefined;
}

/**
 * The format of the answer: the acceptable one with the highest quality, the first listed on a
 * tie. The text format when the header is absent or names nothing Capstan writes (a scraper that
 * asks for protobuf alone still gets a body it may know, rather than a 406).
 */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  if (accept === undefined) return 'text';
  let best: { format: ExpositionFormat; q: number } | undefined;
  for (const range of parseList(accept)) {
    const format = formatOf(range);
    if (format === undefined || range.q <= 0) continue;
    if (best === undefined || range.q > best.q) best = { format, q: range.q };
  }
  return best?.format ?? 'text';
}

/** Whether `Accept-Encoding` takes gzip (by name or `*`, with a quality above 0). */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  if (acceptEncoding === undefined) return false;
  let gzip: number | undefined;
  let any: number | undefined;
  for (const range of parseList(acceptEncoding)) {
    if (range.type === 'gzip' || range.type === 'x-gzip') gzip = Math.max(gzip ?? 0, range.q);
    else if (range.type === '*') any = range.q;
  }
  return (gzip ?? any ?? 0) > 0;
}
