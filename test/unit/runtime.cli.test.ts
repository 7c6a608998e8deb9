import test from 'ava';
import { parseArgs } from '../../server/cli/args';
import { applyInspectFormat } from '../../server/cli/commands/inspect';
import { parseLogTime } from '../../server/cli/commands/logs';
import { formatPorts } from '../../server/cli/commands/port';
import { CONTAINER_FLAGS, createBody } from '../../server/cli/commands/run';
import { CliError } from '../../server/cli/errors';

const parse = (argv: string[]) => parseArgs(argv, CONTAINER_FLAGS, { stopAtFirstPositional: true });

test('run/create arguments: IMAGE COMMAND with its own flags, docker -e rules, and -- for the host filesystem', (t) => {
  const argv = ['--name', 'web', '-e', 'A=1', '-e', 'FROM_SHELL', '-e', 'UNSET', '-p', '8080:80', '--memory', '64m', '--rm', 'busybox', 'ls', '-l', '/'];
  t.deepEqual(createBody(parse(argv), argv, { FROM_SHELL: 'yes' }, 'run'), {
    image: 'busybox',
    cmd: ['ls', '-l', '/'],
    name: 'web',
    env: ['A=1', 'FROM_SHELL=yes'],
    publish: ['8080:80'],
    memory: '64m',
    autoRemove: true,
  });
  const host = ['-i', '--', 'python3', '-m', 'http.server'];
  t.deepEqual(createBody(parse(host), host, {}, 'run'), { image: '', cmd: ['python3', '-m', 'http.server'], openStdin: true });
  const dashAfterImage = ['busybox', '--', 'echo', 'hi'];
  t.deepEqual(createBody(parse(dashAfterImage), dashAfterImage, {}, 'run')['cmd'], ['echo', 'hi']);
  const entrypoint = ['--entrypoint', '', '-l', 'a=b', 'img'];
  t.like(createBody(parse(entrypoint), entrypoint, {}, 'create'), { image: 'img', entrypoint: [], labels: { a: 'b' } });
  t.throws(() => createBody(parse([]), [], {}, 'run'), { instanceOf: CliError, message: /requires at least 1 argument/ });
});

test('port prints docker port lines in port order, or one address', (t) => {
  const ports = {
    '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '9000' }],
    '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }, { HostIp: '::1', HostPort: '8081' }],
  };
  t.is(formatPorts(ports, 'web'), '80/tcp -> 127.0.0.1:8080\n80/tcp -> [::1]:8081\n8080/tcp -> 127.0.0.1:9000\n');
  t.is(formatPorts(ports, 'web', '8080'), '127.0.0.1:9000\n');
  t.is(formatPorts(ports, 'web', '80/tcp'), '127.0.0.1:8080\n[::1]:8081\n');
  t.throws(() => formatPorts(ports, 'web', '81'), { message: "Error: No public port '81/tcp' published for web" });
});

test('inspect -f: field paths and json', (t) => {
  const value = { State: { Pid: 42, Running: true }, Name: '/web', Config: { Env: ['A=1'] } };
  t.is(applyInspectFormat('{{.State.Pid}} {{.Name}} {{ .State.Running }}', value), '42 /web true');
  t.is(applyInspectFormat('{{json .Config.Env}}', value), '["A=1"]');
  t.is(applyInspectFormat('{{.Missing.Field}}', value), '<no value>');
  t.throws(() => applyInspectFormat('{{range .X}}{{end}}', value), { instanceOf: CliError });
});

test('inspect -f prints values as Go prints docker\'s types (measured with docker 20.10)', (t) => {
  const value = {
    HostConfig: {
      RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 },
      PidsLimit: null,
      BlkioWeightDevice: [],
      BlkioDeviceReadBps: null,
      BlkioDeviceWriteIOps: [{ Path: '/dev/vda', Rate: 100 }, { Path: '/dev/vdb', Rate: 7 }],
      CpusetCpus: '',
      PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] },
    },
    Config: { Labels: { b: '2', a: '1' } },
  };
  const print = (field: string): string => applyInspectFormat(`{{.${field}}}`, value);
  t.is(print('HostConfig.RestartPolicy'), '{on-failure 3}');
  t.is(print('HostConfig.PidsLimit'), '<nil>');
  t.is(print('HostConfig.BlkioWeightDevice'), '[]');
  t.is(print('HostConfig.BlkioDeviceReadBps'), '[]');
  t.is(print('HostConfig.BlkioDeviceWriteIOps'), '[/dev/vda:100 /dev/vdb:7]');
  t.is(print('HostConfig.CpusetCpus'), '');
  t.is(print('HostConfig.PortBindings'), 'map[80/tcp:[{ 8080}]]');
  t.is(print('Config.Labels'), 'map[a:1 b:2]');
  t.is(applyInspectFormat('{{json .HostConfig.BlkioDeviceReadBps}}', value), 'null');
  // A field whose Go name differs (CPUShares) sends docker's CLI to the raw JSON for the whole template.
  const mixed = { HostConfig: { ...value.HostConfig, CpuShares: 0 } };
  t.is(
    applyInspectFormat('{{.HostConfig.CpuShares}}|{{.HostConfig.RestartPolicy}}|{{.HostConfig.PidsLimit}}|{{.HostConfig.BlkioDeviceWriteIOps}}', mixed),
    '0|map[MaximumRetryCount:3 Name:on-failure]|<no value>|[map[Path:/dev/vda Rate:100] map[Path:/dev/vdb Rate:7]]',
  );
  t.is(applyInspectFormat('{{.HostConfig.RestartPolicy}}|{{.HostConfig.PidsLimit}}', mixed), '{on-failure 3}|<nil>');
});

test("logs --since/--until: docker's durations, Unix seconds and RFC 3339", (t) => {
  const now = Date.parse('2024-05-01T12:00:00Z');
  t.is(parseLogTime('10m', '--since', now), now - 600_000);
  t.is(parseLogTime('1h30m', '--since', now), now - 5_400_000);
  t.is(parseLogTime('1714564800', '--since', now), 1714564800_000);
  t.is(parseLogTime('1714564800.5', '--since', now), 1714564800_500);
  t.is(parseLogTime('2024-05-01T11:00:00Z', '--since', now), now - 3_600_000);
  t.throws(() => parseLogTime('yesterday', '--since', now), { instanceOf: CliError });
});
