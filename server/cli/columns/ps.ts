/**
 * The columns of `capstan ps`: docker's ContainerContext fields over docker's container Summary
 * (docker/cli cli/command/formatter/container.go), with docker's truncation: the ID to 12, the
 * COMMAND to 20 display columns with "…" and then Go-quoted, mount names to 15, one name per row,
 * the image's familiar name. `.Runtime` (the owner) is capstan's, and left out of {{json .}} so
 * the JSON keys stay docker's. Pure.
 */
import type { PsPort, PsSummary } from '../../containers/ps';
import { humanDuration, humanSizeWithPrecision } from '../format/units';
import { columnRegistry, goTimeString, truncateId, type Column, type ColumnRegistry } from './column';

export interface PsRow {
  summary: PsSummary;
}

export const DEFAULT_PS_TABLE_FORMAT = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';

/** East Asian wide and fullwidth characters take two columns (golang.org/x/text/width), roughly by block. */
function charWidth(codePoint: number): number {
  const wide =
    (codePoint >= 0x1100 && codePoint <= 0x115f) ||
    (codePoint >= 0x2e80 && codePoint <= 0x303e) ||
    (codePoint >= 0x3041 && codePoint <= 0x33ff) ||
    (codePoint >= 0x3400 && codePoint <= 0x4dbf) ||
    (codePoint >= 0x4e00 && codePoint <= 0x9fff) ||
    (codePoint >= 0xa000 && codePoint <= 0xa4cf) ||
    (codePoint >= 0xac00 && codePoint <= 0xd7a3) ||
    (codePoint >= 0xf900 && codePoint <= 0xfaff) ||
    (codePoint >= 0xfe30 && codePoint <= 0xfe4f) ||
    (codePoint >= 0xff00 && codePoint <= 0xff60) ||
    (codePoint >= 0xffe0 && codePoint <= 0xffe6) ||
    (codePoint >= 0x1f300 && codePoint <= 0x1f64f) ||
    (codePoint >= 0x20000 && codePoint <= 0x3fffd);
  return wide ? 2 : 1;
}

/** docker's formatter.Ellipsis: at most `maxWidth` display columns, the last one "…" when cut. */
export function ellipsis(text: string, maxWidth: number): string {
  if (maxWidth <= 0) return '';
  const runes = [...text];
  if (maxWidth === 1) return runes[0] ?? '';
  let width = 0;
  const ends: number[] = [];
  for (const rune of runes) {
    width += charWidth(rune.codePointAt(0)!);
    ends.push(width);
  }
  if (width <= maxWidth) return text;
  let keep = 0;
  while (keep < runes.length && ends[keep]! <= maxWidth - 1) keep++;
  return runes.slice(0, keep).join('') + '…';
}

/** Go's strconv.Quote: double quotes, Go's escapes, printable characters as they are. */
export function goQuote(text: string): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (code === 7) out += '\\a';
    else if (code === 8) out += '\\b';
    else if (code === 12) out += '\\f';
    else if (code === 11) out += '\\v';
    else if (code < 0x20 || code === 0x7f) out += '\\x' + code.toString(16).padStart(2, '0');
    else if (code >= 0x80 && code < 0xa0) out += '\\u' + code.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}

/**
 * docker's IMAGE cell: the short id when the image was given by id, otherwise the familiar name
 * ("docker.io/library/busybox:1.36" is "busybox:1.36") without a digest; as given when not a reference.
 */
export function familiarImage(image: string, imageId: string): string {
  if (image === '') return '<no image>';
  if (truncateId(imageId) === truncateId(image)) return truncateId(image);
  // Not a reference (docker's ParseNormalizedNamed fails on upper case in the path, spaces, …): as given.
  const slash = image.indexOf('/');
  const path = slash >= 0 && /[.:]|^localhost$/.test(image.slice(0, slash)) ? image.slice(slash + 1) : image;
  if (!/^[a-z0-9._\/-]+(?::[\w][\w.-]{0,127})?(?:@[a-z0-9]+:[a-f0-9]{32,})?$/.test(path)) return image;
  let name = image;
  const at = name.indexOf('@');
  if (at >= 0) name = name.slice(0, at);
  if (name.startsWith('docker.io/library/')) name = name.slice('docker.io/library/'.length);
  else if (name.startsWith('docker.io/')) name = name.slice('docker.io/'.length);
  return name;
}

/** docker's DisplayablePorts: "0.0.0.0:8080->80/tcp, 9000-9001/tcp", ranges grouped, mappings last. */
export function displayablePorts(ports: readonly PsPort[]): string {
  const sorted = [...ports].sort((a, b) => {
    if (a.PrivatePort !== b.PrivatePort) return a.PrivatePort - b.PrivatePort;
    if ((a.IP ?? '') !== (b.IP ?? '')) return (a.IP ?? '') < (b.IP ?? '') ? -1 : 1;
    if ((a.PublicPort ?? 0) !== (b.PublicPort ?? 0)) return (a.PublicPort ?? 0) - (b.PublicPort ?? 0);
    return a.Type < b.Type ? -1 : a.Type > b.Type ? 1 : 0;
  });
  const joinHostPort = (host: string, port: string): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);
  const groups = new Map<string, { first: number; last: number }>();
  const order: string[] = [];
  const result: string[] = [];
  const mappings: string[] = [];
  const formGroup = (key: string, first: number, last: number): string => {
    const slash = key.lastIndexOf('/');
    const ip = slash >= 0 ? key.slice(0, slash) : '';
    const type = slash >= 0 ? key.slice(slash + 1) : key;
    let group = first === last ? String(first) : `${first}-${last}`;
    if (ip !== '') group = `${joinHostPort(ip, group)}->${group}`;
    return `${group}/${type}`;
  };
  for (const port of sorted) {
    let key = port.Type;
    if (port.IP) {
      if (port.PublicPort !== port.PrivatePort) {
        mappings.push(`${joinHostPort(port.IP, String(port.PublicPort ?? 0))}->${port.PrivatePort}/${port.Type}`);
        continue;
      }
      key = `${port.IP}/${port.Type}`;
    }
    const group = groups.get(key);
    if (!group) {
      groups.set(key, { first: port.PrivatePort, last: port.PrivatePort });
      order.push(key);
      continue;
    }
    if (port.PrivatePort === group.last + 1) {
      group.last = port.PrivatePort;
      continue;
    }
    result.push(formGroup(key, group.first, group.last));
    groups.set(key, { first: port.PrivatePort, last: port.PrivatePort });
  }
  for (const key of order) result.push(formGroup(key, groups.get(key)!.first, groups.get(key)!.last));
  return [...result, ...mappings].join(', ');
}

/** docker's SIZE: "12B (virtual 1.98MB)", decimal units with 3 significant digits. */
export function sizeText(summary: Pick<PsSummary, 'SizeRw' | 'SizeRootFs'>): string {
  const rw = humanSizeWithPrecision(summary.SizeRw ?? 0, 3);
  return (summary.SizeRootFs ?? 0) > 0 ? `${rw} (virtual ${humanSizeWithPrecision(summary.SizeRootFs!, 3)})` : rw;
}

function namesText(names: readonly string[], trunc: boolean): string {
  const stripped = names.map((name) => name.replace(/^\//, ''));
  // Truncated, docker shows one name: the first that is not a legacy link ("/other/alias").
  if (trunc) return stripped.find((name) => !name.includes('/')) ?? '';
  return stripped.join(',');
}

export const PS_COLUMNS: readonly Column<PsRow>[] = [
  { field: 'ID', header: 'CONTAINER ID', description: 'Container ID (12 characters unless --no-trunc)', format: (row, o) => (o.trunc ? truncateId(row.summary.Id) : row.summary.Id) },
  { field: 'Image', header: 'IMAGE', description: 'Image reference', format: (row, o) => (o.trunc ? familiarImage(row.summary.Image, row.summary.ImageID) : row.summary.Image === '' ? '<no image>' : row.summary.Image) },
  { field: 'Command', header: 'COMMAND', description: 'Quoted command (20 columns unless --no-trunc)', format: (row, o) => goQuote(o.trunc ? ellipsis(row.summary.Command, 20) : row.summary.Command) },
  { field: 'CreatedAt', header: 'CREATED AT', description: 'Creation time', format: (row) => goTimeString(row.summary.Created * 1000) },
  // docker measures from whole seconds (time.Unix(Created, 0)).
  { field: 'RunningFor', header: 'CREATED', description: 'Time since creation ("5 minutes ago")', format: (row, o) => `${humanDuration(o.nowMs - row.summary.Created * 1000)} ago` },
  { field: 'Ports', header: 'PORTS', description: 'Published ports ("127.0.0.1:8080->80/tcp")', format: (row) => displayablePorts(row.summary.Ports) },
  { field: 'State', header: 'STATE', description: 'created, running, paused, restarting, removing, exited or dead', format: (row) => row.summary.State },
  { field: 'Status', header: 'STATUS', description: 'Status ("Up 5 minutes", "Exited (0) 2 minutes ago")', format: (row) => row.summary.Status },
  { field: 'Size', header: 'SIZE', description: 'Writable layer size (virtual: with the image)', format: (row) => sizeText(row.summary) },
  { field: 'Names', header: 'NAMES', description: 'Container name', format: (row, o) => namesText(row.summary.Names, o.trunc) },
  {
    field: 'Labels',
    header: 'LABELS',
    description: 'Labels as k=v,k=v',
    format: (row) =>
      Object.entries(row.summary.Labels)
        .map(([k, v]) => `${k}=${v}`)
        .sort()
        .join(','),
  },
  { field: 'Label', header: 'LABEL', description: 'One label\'s value: {{.Label "key"}}', arity: 1, format: (row, _o, key = '') => row.summary.Labels[key] ?? '' },
  {
    field: 'Mounts',
    header: 'MOUNTS',
    description: 'Mount names (15 columns each unless --no-trunc)',
    format: (row, o) =>
      row.summary.Mounts.map((m) => {
        const name = m.Name ? m.Name : (m.Source ?? '');
        return o.trunc ? ellipsis(name, 15) : name;
      }).join(','),
  },
  { field: 'LocalVolumes', header: 'LOCAL VOLUMES', description: 'Number of local volumes', format: (row) => String(row.summary.Mounts.filter((m) => m.Driver === 'local').length) },
  { field: 'Networks', header: 'NETWORKS', description: 'Networks attached', format: (row) => Object.keys(row.summary.NetworkSettings.Networks).sort().join(',') },
  // docker's is the image's platform when the engine reports one (API 1.46+); none here.
  { field: 'Platform', header: 'PLATFORM', description: 'Image platform (none known)', format: () => '<nil>', json: () => 'null' },
  { field: 'Runtime', header: 'RUNTIME', description: 'capstan: who runs it (capstan, docker, podman, kubernetes)', inJson: false, format: (row) => row.summary.Owner },
];

export const PS_COLUMN_REGISTRY: ColumnRegistry<PsRow> = columnRegistry(PS_COLUMNS);
