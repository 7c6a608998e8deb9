/**
 * The security settings' policy, pure: Docker's default seccomp profile resolved for a
 * container's capabilities, architecture and kernel (moby's includes/excludes, runc's conversion),
 * custom profiles and their refusals, --security-opt parsing on the agent and in the CLI, and
 * --cap-add / --cap-drop with Docker's rules and messages, and the cache of compiled filters.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import test from 'ava';
import { securityOptionsToSend } from '../../server/cli/commands/run';
import { RuntimeError } from '../../server/runtime/errors';
import { parseCreateRequest } from '../../server/runtime/request';
import { effectiveCapAddCapDrop, tweakCapabilities } from '../../server/runtime/security/capabilities';
import { checkSecurityOptions, containerSecurity, type HostSecurityFacts } from '../../server/runtime/security/options';
import { SeccompProgramCache, shimSeccomp } from '../../server/runtime/security/program-cache';
import { checkProfile, parseSeccompProfile, resolveSeccompProfile, type ResolvedSeccomp, type SeccompTarget } from '../../server/runtime/security/seccomp';
import { DEFAULT_SECCOMP_PROFILE } from '../../server/runtime/security/seccomp-default';
import { DOCKER_DEFAULT_CAPABILITIES } from '../../server/runtime/shim-protocol';

const HOST: HostSecurityFacts = { capLastCap: 40, nodeArch: 'x64', kernelRelease: '6.1.0-18-amd64' };
const DEFAULTS: SeccompTarget = { capabilities: [...DOCKER_DEFAULT_CAPABILITIES], nodeArch: 'x64', kernelRelease: '6.1.0-18-amd64' };

/** The action and errno the resolved filter gives `name` with no argument rule (undefined: the default). */
function plainRule(resolved: ResolvedSeccomp, name: string): { action: string; errno: number } | undefined {
  const rule = resolved.rules.find((candidate) => candidate.names.includes(name) && candidate.args.length === 0);
  return rule && { action: rule.action, errno: rule.errno };
}

function allowed(resolved: ResolvedSeccomp, name: string): boolean {
  return plainRule(resolved, name)?.action === 'SCMP_ACT_ALLOW';
}

/** The RuntimeError `fn` throws. */
function refusal(fn: () => unknown): RuntimeError {
  try {
    fn();
  } catch (caught) {
    if (caught instanceof RuntimeError) return caught;
    throw caught;
  }
  throw new Error('no error thrown');
}

test('the built-in profile is a valid profile in Docker format: default ERRNO EPERM, x86_64 with x86 and x32', (t) => {
  t.notThrows(() => checkProfile(JSON.parse(JSON.stringify(DEFAULT_SECCOMP_PROFILE))));
  const resolved = resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, DEFAULTS)!;
  t.is(resolved.defaultAction, 'SCMP_ACT_ERRNO');
  t.is(resolved.defaultErrno, 1);
  t.deepEqual(resolved.architectures, ['x86_64', 'x86', 'x32']);
});

test("with Docker's default capabilities: keyrings, bpf, perf, mounts and namespaces fall to EPERM; clone without namespace flags; clone3 ENOSYS", (t) => {
  const resolved = resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, DEFAULTS)!;
  for (const name of ['read', 'execve', 'chroot', 'ptrace', 'arch_prctl', 'modify_ldt']) t.true(allowed(resolved, name), `${name} allowed`);
  for (const name of ['keyctl', 'add_key', 'request_key', 'bpf', 'perf_event_open', 'mount', 'umount2', 'unshare', 'setns', 'syslog', 'reboot', 'kexec_load', 'open_by_handle_at', 'init_module', 'userfaultfd']) {
    t.is(plainRule(resolved, name), undefined, `${name} falls to the default (EPERM)`);
  }
  // clone: only without namespace flags (a masked comparison on argument 0); clone3: ENOSYS.
  const clone = resolved.rules.filter((rule) => rule.names.includes('clone'));
  t.deepEqual(clone, [{ names: ['clone'], action: 'SCMP_ACT_ALLOW', errno: 0, args: [{ index: 0, op: 'SCMP_CMP_MASKED_EQ', value: 2114060288, valueTwo: 0 }] }]);
  t.deepEqual(plainRule(resolved, 'clone3'), { action: 'SCMP_ACT_ERRNO', errno: 38 });
  // socket: three argument rules (AF_ALG and AF_VSOCK left out); personality: five values.
  t.is(resolved.rules.filter((rule) => rule.names.includes('socket')).length, 3);
  t.is(resolved.rules.filter((rule) => rule.names.includes('personality')).length, 5);
});

test('capabilities switch rules on and off: CAP_SYS_ADMIN unlocks mount, unshare, clone3 and bpf; CAP_SYS_PTRACE, CAP_BPF, CAP_PERFMON theirs', (t) => {
  const admin = resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, { ...DEFAULTS, capabilities: [...DOCKER_DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'] })!;
  for (const name of ['mount', 'umount2', 'unshare', 'setns', 'bpf', 'perf_event_open', 'clone', 'clone3', 'sethostname']) t.true(allowed(admin, name), `${name} with CAP_SYS_ADMIN`);
  t.false(admin.rules.some((rule) => rule.names.includes('clone') && rule.args.length > 0), 'no masked clone rule with CAP_SYS_ADMIN');
  t.false(admin.rules.some((rule) => rule.action === 'SCMP_ACT_ERRNO'), 'no clone3 ENOSYS rule with CAP_SYS_ADMIN');

  const others = resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, { ...DEFAULTS, capabilities: [...DOCKER_DEFAULT_CAPABILITIES, 'CAP_BPF', 'CAP_PERFMON', 'CAP_SYS_PTRACE', 'CAP_SYS_TIME'] })!;
  for (const name of ['bpf', 'perf_event_open', 'process_vm_writev', 'kcmp', 'settimeofday', 'clock_settime']) t.true(allowed(others, name), name);
  t.false(allowed(others, 'mount'));

  // Dropping CAP_SYS_CHROOT takes chroot away.
  const dropped = resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, { ...DEFAULTS, capabilities: DOCKER_DEFAULT_CAPABILITIES.filter((cap) => cap !== 'CAP_SYS_CHROOT') })!;
  t.false(allowed(dropped, 'chroot'));
});

test('architecture and kernel: arm64 gets ARM and its own calls, s390x its clone order; ptrace needs kernel 4.8', (t) => {
  const arm = resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, { ...DEFAULTS, nodeArch: 'arm64' })!;
  t.deepEqual(arm.architectures, ['aarch64', 'arm']);
  t.true(allowed(arm, 'set_tls'));
  t.false(allowed(arm, 'arch_prctl'));
  const s390 = resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, { ...DEFAULTS, nodeArch: 's390x' })!;
  t.deepEqual(s390.rules.filter((rule) => rule.names.includes('clone')).map((rule) => rule.args[0]!.index), [1]);
  const amd = resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, DEFAULTS)!;
  t.false(allowed(amd, 'set_tls'));
  const old = resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, { ...DEFAULTS, kernelRelease: '4.4.0-generic' })!;
  t.false(allowed(old, 'ptrace'), 'ptrace is left out before 4.8');
  t.true(allowed(resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, { ...DEFAULTS, kernelRelease: '4.8' })!, 'ptrace'));
});

test('a custom profile: rules equal to the default are dropped, two comparisons on one argument become two rules, ERRNO without errnoRet is EPERM', (t) => {
  const profile = parseSeccompProfile(
    JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { name: 'mkdir', action: 'SCMP_ACT_ERRNO' },
        { names: ['getpid'], action: 'SCMP_ACT_ALLOW' },
        { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [{ index: 1, value: 9, op: 'SCMP_CMP_EQ' }, { index: 1, value: 15, op: 'SCMP_CMP_EQ' }] },
        { names: ['tkill'], action: 'SCMP_ACT_KILL_PROCESS', includes: { caps: ['CAP_SYS_ADMIN'] } },
      ],
    }),
  );
  const resolved = resolveSeccompProfile(profile, DEFAULTS)!;
  t.deepEqual(resolved.architectures, ['x86_64']);
  t.is(resolved.defaultErrno, 0);
  t.deepEqual(resolved.rules, [
    { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errno: 1, args: [] },
    { names: ['kill'], action: 'SCMP_ACT_ERRNO', errno: 13, args: [{ index: 1, op: 'SCMP_CMP_EQ', value: 9, valueTwo: 0 }] },
    { names: ['kill'], action: 'SCMP_ACT_ERRNO', errno: 13, args: [{ index: 1, op: 'SCMP_CMP_EQ', value: 15, valueTwo: 0 }] },
  ]);
  // An empty profile means no filter, as moby reads it.
  t.is(resolveSeccompProfile(parseSeccompProfile('{}'), DEFAULTS), undefined);
});

test('bad profiles are refused with what is wrong', (t) => {
  const message = (text: string): string => refusal(() => parseSeccompProfile(text)).message;
  t.regex(message('{"defaultAction":'), /^Decoding seccomp profile failed: /);
  t.regex(message('{"defaultAction":"SCMP_ACT_NOPE"}'), /unknown action "SCMP_ACT_NOPE"/);
  t.regex(message('{"defaultAction":"SCMP_ACT_NOTIFY"}'), /SCMP_ACT_NOTIFY needs a seccomp agent/);
  t.regex(message('{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":null}]}'), /both 'architectures' and 'archMap'/);
  t.regex(message('{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"name":"read","names":["write"],"action":"SCMP_ACT_ALLOW"}]}'), /both 'name' and 'names'/);
  t.regex(message('{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","errnoRet":1}]}'), /errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE/);
  t.regex(message('{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}'), /index must be an argument number from 0 to 5/);
  t.regex(message('{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_ABOUT"}]}]}'), /unknown operator "SCMP_CMP_ABOUT"/);
  t.regex(message('{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4"}}]}'), /invalid kernel version "4", expected "<kernel>.<major>"/);
  t.regex(message('{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":18446744073709551615,"op":"SCMP_CMP_EQ"}]}]}'), /value must be an integer/);
  t.is(refusal(() => parseSeccompProfile('[]')).status, 400);
});

test('--security-opt on the agent: seccomp=unconfined|builtin|<json>, no-new-privileges; others refused with Docker\'s words', (t) => {
  t.deepEqual(checkSecurityOptions(['seccomp=unconfined', 'no-new-privileges', 'no-new-privileges=true', 'seccomp:builtin']), ['seccomp=unconfined', 'no-new-privileges', 'no-new-privileges=true', 'seccomp:builtin']);
  t.is(refusal(() => checkSecurityOptions(['seccomp='])).message, 'invalid --security-opt: "seccomp="');
  t.is(refusal(() => checkSecurityOptions(['bogus=1'])).message, 'invalid --security-opt 2: "bogus=1"');
  t.regex(refusal(() => checkSecurityOptions(['apparmor=docker-default'])).message, /no AppArmor or SELinux support/);
  t.regex(refusal(() => checkSecurityOptions(['no-new-privileges=false'])).message, /always runs containers with no-new-privileges/);
  t.regex(refusal(() => checkSecurityOptions(['seccomp={"defaultAction":"SCMP_ACT_NOPE"}'])).message, /unknown action/);

  t.is(containerSecurity({ securityOpt: ['seccomp=unconfined'], capAdd: [], capDrop: [] }, DOCKER_DEFAULT_CAPABILITIES, HOST).seccomp, undefined);
  const custom = containerSecurity({ securityOpt: ['seccomp={"defaultAction":"SCMP_ACT_LOG"}'], capAdd: [], capDrop: [] }, DOCKER_DEFAULT_CAPABILITIES, HOST);
  t.deepEqual(custom.seccomp, { defaultAction: 'SCMP_ACT_LOG', defaultErrno: 0, architectures: [], rules: [] });
  const defaults = containerSecurity({ securityOpt: [], capAdd: [], capDrop: [] }, DOCKER_DEFAULT_CAPABILITIES, HOST);
  t.deepEqual(defaults.capabilities, [...DOCKER_DEFAULT_CAPABILITIES]);
  t.is(defaults.seccomp?.defaultAction, 'SCMP_ACT_ERRNO');
});

test('--security-opt in the CLI: a profile file is sent as its compacted JSON; a missing or broken file is refused as docker does', (t) => {
  const files: Record<string, string> = { '/p.json': '{\n  "defaultAction": "SCMP_ACT_ALLOW"\n}\n', '/bad.json': '{ nope' };
  const read = (file: string): string => {
    const text = files[file];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${file}'`), { code: 'ENOENT' });
    return text;
  };
  t.deepEqual(securityOptionsToSend(['seccomp=/p.json', 'seccomp=unconfined', 'no-new-privileges'], read), ['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}', 'seccomp=unconfined', 'no-new-privileges']);
  t.throws(() => securityOptionsToSend(['seccomp=/missing.json'], read), { message: 'opening seccomp profile (/missing.json) failed: open /missing.json: no such file or directory' });
  t.throws(() => securityOptionsToSend(['seccomp=/bad.json'], read), { message: /^compacting json for seccomp profile \(\/bad\.json\) failed: / });
  t.throws(() => securityOptionsToSend(['label'], read), { message: 'invalid --security-opt: "label"' });
});

test('--cap-add / --cap-drop: case, the CAP_ prefix, ALL, add beats drop, and Docker\'s messages', (t) => {
  t.deepEqual(effectiveCapAddCapDrop(['sys_admin', 'CAP_NET_ADMIN'], ['mknod', 'SYS_ADMIN']), { capAdd: ['CAP_NET_ADMIN', 'CAP_SYS_ADMIN'], capDrop: ['CAP_MKNOD'] });
  t.deepEqual(effectiveCapAddCapDrop(['all', 'kill'], []), { capAdd: ['ALL'], capDrop: [] });

  const base = [...DOCKER_DEFAULT_CAPABILITIES];
  t.deepEqual(tweakCapabilities(base, [], [], 40), base);
  t.deepEqual(tweakCapabilities(base, ['CAP_SYS_ADMIN'], ['CAP_MKNOD'], 40), [...base.filter((cap) => cap !== 'CAP_MKNOD'), 'CAP_SYS_ADMIN']);
  t.deepEqual(tweakCapabilities(base, ['CAP_KILL'], ['ALL'], 40), ['CAP_KILL']);
  const all = tweakCapabilities(base, ['ALL'], ['CAP_SYS_MODULE'], 40);
  t.is(all.length, 40);
  t.false(all.includes('CAP_SYS_MODULE'));
  t.is(tweakCapabilities(base, ['ALL'], [], 37).length, 38, 'ALL is what this kernel has (cap_last_cap)');
  t.is(refusal(() => tweakCapabilities(base, ['CAP_NOPE'], [], 40)).message, 'unknown capability: "CAP_NOPE"');
  t.is(refusal(() => tweakCapabilities(base, ['CAP_BPF'], [], 37)).message, 'capability not supported by your kernel or not available in the current environment: "CAP_BPF"');

  const request = parseCreateRequest({ cmd: ['true'], capAdd: ['net_admin'], capDrop: ['all'], securityOpt: ['seccomp=unconfined'] });
  t.deepEqual([request.capAdd, request.capDrop, request.securityOpt], [['CAP_NET_ADMIN'], ['ALL'], ['seccomp=unconfined']]);
  t.is(refusal(() => parseCreateRequest({ cmd: ['true'], capAdd: ['bogus'] })).message, 'unknown capability: "CAP_BOGUS"');
});

test('compiled filters: one export per distinct filter, kept by hash; a failed export is logged and leaves the shim to build it', async (t) => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'capstan-seccomp-cache-'));
  t.teardown(() => fs.rmSync(directory, { recursive: true, force: true }));
  const filter = resolveSeccompProfile(DEFAULT_SECCOMP_PROFILE, DEFAULTS)!;

  // A stand-in shim that counts its runs and writes 8 bytes where it is told.
  const fakeShim = path.join(directory, 'fake-shim');
  const runs = path.join(directory, 'runs');
  fs.writeFileSync(fakeShim, `#!/bin/sh\necho run >> ${runs}\n[ "$1" = seccomp-export ] && printf '01234567' > "$3"\n`, { mode: 0o755 });
  const cache = new SeccompProgramCache(path.join(directory, 'seccomp'), fakeShim, () => undefined);
  const [first, second] = await Promise.all([cache.programFor(filter), cache.programFor(filter)]);
  t.truthy(first);
  t.is(first, second);
  t.is(await cache.programFor(filter), first, 'kept: no second export');
  t.is(fs.readFileSync(runs, 'utf8'), 'run\n');
  t.not(await cache.programFor({ ...filter, defaultErrno: 13 }), first, 'another filter, another program');
  t.deepEqual(fs.readdirSync(path.join(directory, 'seccomp')).filter((name) => !name.endsWith('.bpf')), [], 'no input files left behind');
  t.deepEqual(await shimSeccomp(undefined, cache), null);
  t.is((await shimSeccomp(filter, cache))?.program, first);

  const logged: string[] = [];
  const broken = new SeccompProgramCache(path.join(directory, 'broken'), path.join(directory, 'no-such-shim'), (message) => logged.push(message));
  t.is(await broken.programFor(filter), undefined);
  t.regex(logged.join('\n'), /cannot compile a seccomp filter ahead/);
  t.is((await shimSeccomp(filter, broken))?.program, undefined, 'the shim gets the rules and builds the filter itself');
});
