/** `volume ls` columns, docker's (cli/command/formatter/volume.go): DRIVER and VOLUME NAME by default. */
import type { VolumeRecord } from '../../runtime/volumes/store';
import { columnRegistry, type Column } from './column';

export const DEFAULT_VOLUMES_TABLE_FORMAT = 'table {{.Driver}}\t{{.Name}}';

function labelsText(labels: Readonly<Record<string, string>>): string {
  return Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

const VOLUME_COLUMNS: readonly Column<VolumeRecord>[] = [
  { field: 'Driver', header: 'DRIVER', description: 'Volume driver', format: (row) => row.Driver },
  { field: 'Labels', header: 'LABELS', description: 'All labels (key=value,...)', format: (row) => labelsText(row.Labels) },
  { field: 'Links', header: 'LINKS', description: 'Containers using the volume (N/A unless asked)', format: () => 'N/A' },
  { field: 'Mountpoint', header: 'MOUNTPOINT', description: 'The volume on the host', format: (row) => row.Mountpoint },
  { field: 'Name', header: 'VOLUME NAME', description: 'Volume name', format: (row) => row.Name },
  { field: 'Scope', header: 'SCOPE', description: 'local', format: (row) => row.Scope },
  { field: 'Size', header: 'SIZE', description: 'Size (N/A unless asked)', format: () => 'N/A' },
  { field: 'Label', header: 'LABEL', description: 'One label\'s value ({{.Label "key"}})', arity: 1, format: (row, _options, key = '') => row.Labels[key] ?? '' },
];

export const VOLUME_COLUMN_REGISTRY = columnRegistry(VOLUME_COLUMNS);
