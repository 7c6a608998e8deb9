/**
 * Owners from cgroup paths alone: engine container shapes for both cgroup drivers (Docker, Podman
 * and its monitor) and Kubernetes pods with their QoS class, for the cgroupfs and systemd drivers.
 */
import test from 'ava';
import { matchEngineCgroup } from '../../server/sources/engine/cgroups';
import { KubepodsSource, parseKubepodsPath } from '../../server/sources/kubepods';

const ID = 'ab'.repeat(32);
const UID = '6f1d8a3c-0b4e-4c55-9a1f-2d3e4f5a6b7c';

test('engine shapes: docker cgroupfs and systemd, podman cgroupfs and systemd, podman monitor', (t) => {
  t.deepEqual(matchEngineCgroup(`/docker/${ID}`), { id: ID, flavour: 'docker', claims: true, monitor: false });
  t.deepEqual(matchEngineCgroup(`/system.slice/docker-${ID}.scope`), { id: ID, flavour: 'docker', claims: true, monitor: false });
  t.deepEqual(matchEngineCgroup(`/user.slice/user-1000.slice/user@1000.service/docker-${ID}.scope`), { id: ID, flavour: 'docker', claims: true, monitor: false });
  t.deepEqual(matchEngineCgroup(`/libpod_parent/libpod-${ID}`), { id: ID, flavour: 'podman', claims: true, monitor: false });
  t.deepEqual(matchEngineCgroup(`/machine.slice/libpod-${ID}.scope`), { id: ID, flavour: 'podman', claims: true, monitor: false });
  t.deepEqual(matchEngineCgroup(`/machine.slice/libpod-conmon-${ID}.scope`), { id: ID, flavour: 'podman', claims: true, monitor: true });
});

test('a bare 64-hex leaf outside /docker is an engine container only if an engine lists it', (t) => {
  t.deepEqual(matchEngineCgroup(`/custom-parent/${ID}`), { id: ID, claims: false, monitor: false });
  t.is(matchEngineCgroup('/system.slice/ssh.service'), undefined);
  t.is(matchEngineCgroup(`/docker/${ID}/child`), undefined, 'a container\'s own sub-cgroups are not containers');
  t.is(matchEngineCgroup(`/docker/${ID.slice(1)}`), undefined);
  t.is(matchEngineCgroup(`/system.slice/docker-${ID.toUpperCase()}.scope`), undefined);
});

test('kubepods, cgroupfs driver: QoS levels, pods and containers', (t) => {
  t.deepEqual(parseKubepodsPath('/kubepods'), { qosClass: 'Guaranteed' });
  t.deepEqual(parseKubepodsPath('/kubepods/burstable'), { qosClass: 'Burstable' });
  t.deepEqual(parseKubepodsPath(`/kubepods/pod${UID}`), { qosClass: 'Guaranteed', podUid: UID });
  t.deepEqual(parseKubepodsPath(`/kubepods/besteffort/pod${UID}/${ID}`), { qosClass: 'BestEffort', podUid: UID, containerId: ID });
  t.is(parseKubepodsPath(`/kubepods/besteffort/pod${UID}/${ID}/inner`), undefined);
  t.is(parseKubepodsPath('/system.slice'), undefined);
  t.is(parseKubepodsPath('/kubepodsx/burstable'), undefined);
});

test('kubepods, systemd driver: pod UIDs with underscores, runtime prefixes', (t) => {
  const underscored = UID.replace(/-/g, '_');
  t.deepEqual(parseKubepodsPath(`/kubepods.slice/kubepods-pod${underscored}.slice/cri-containerd-${ID}.scope`), {
    qosClass: 'Guaranteed', podUid: UID, containerId: ID, runtime: 'cri-containerd',
  });
  t.deepEqual(parseKubepodsPath(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${underscored}.slice/crio-${ID}.scope`), {
    qosClass: 'Burstable', podUid: UID, containerId: ID, runtime: 'crio',
  });
  t.deepEqual(parseKubepodsPath('/kubepods.slice/kubepods-besteffort.slice'), { qosClass: 'BestEffort' });
});

test('the kubepods source names containers by pod UID and id, with the QoS class as a label', (t) => {
  const source = new KubepodsSource();
  const container = source.describe(`/kubepods/burstable/pod${UID}/${ID}`, { createdAtMs: 5 })!;
  t.like(container, { id: ID, name: `pod${UID}/${ID.slice(0, 12)}`, source: 'kubernetes', isContainer: true, createdAtMs: 5 });
  t.deepEqual(container.labels, { 'io.kubernetes.pod.uid': UID, qos_class: 'Burstable' });
  const pod = source.describe(`/kubepods/burstable/pod${UID}`, {})!;
  t.like(pod, { name: `pod${UID}`, isContainer: false });
  t.like(source.describe('/kubepods/burstable', {})!, { name: '/kubepods/burstable', isContainer: false });
  t.is(source.describe('/system.slice', {}), undefined);
});
