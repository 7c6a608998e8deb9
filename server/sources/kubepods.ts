/**
 * Kubernetes pods from their cgroup paths alone: a kubelet puts every pod under `kubepods`, with
 * the QoS class in the path, so pods and their containers can be named with no kubelet to ask.
 *
 *   cgroupfs driver   /kubepods/pod<uid>/<id>                          (Guaranteed)
 *                     /kubepods/burstable/pod<uid>/<id>                (Burstable, BestEffort alike)
 *   systemd driver    /kubepods.slice/kubepods-pod<uid_>.slice/cri-containerd-<id>.scope
 *                     /kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/crio-<id>.scope
 *
 * (<uid_> is the pod UID with "_" for "-", as systemd unit names cannot carry the dashes.) The
 * runtime's prefix (cri-containerd-, crio-, docker-) or none precedes the 64-hex container id.
 * These cgroups belong to the kubelet: capstan never changes their limits.
 */
import type { CgroupPath, ContainerInfo } from '../model';
import { rawCgroupId } from './raw';
import type { CgroupFacts, ContainerSource } from './source';

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

export interface KubepodsPath {
  qosClass: QosClass;
  /** The pod's UID, with dashes. */
  podUid?: string;
  /** The container's 64-hex id (absent for the pod's own cgroup and the QoS levels). */
  containerId?: string;
  /** The runtime's cgroup prefix ("cri-containerd", "crio", "docker"), when the path has one. */
  runtime?: string;
}

/** The pod label capstan sets, as the kubelet's runtimes label their containers. */
export const POD_UID_LABEL = 'io.kubernetes.pod.uid';
/** The QoS class label, named as kube-state-metrics names it. */
export const QOS_CLASS_LABEL = 'qos_class';

const QOS_NAMES: Record<string, QosClass> = { burstable: 'Burstable', besteffort: 'BestEffort' };
const POD_CGROUPFS = /^pod([0-9a-f-]{36})$/;
const POD_SYSTEMD = /^kubepods(?:-(?:burstable|besteffort))?-pod([0-9a-f_]{36})\.slice$/;
const CONTAINER = /^(?:(cri-containerd|crio|docker)-)?([0-9a-f]{64})(?:\.scope)?$/;

/** Pure: the pod and container a kubepods cgroup path names, or undefined outside kubepods. */
export function parseKubepodsPath(cgroupPath: CgroupPath): KubepodsPath | undefined {
  const parts = cgroupPath.split('/').filter(Boolean);
  const top = parts[0];
  if (top !== 'kubepods' && top !== 'kubepods.slice') return undefined;
  const systemd = top === 'kubepods.slice';
  let index = 1;
  let qosClass: QosClass = 'Guaranteed';
  const level = parts[index];
  const qosLevel = level === undefined ? undefined : systemd ? /^kubepods-(burstable|besteffort)\.slice$/.exec(level)?.[1] : /^(burstable|besteffort)$/.exec(level)?.[1];
  if (qosLevel) {
    qosClass = QOS_NAMES[qosLevel]!;
    index += 1;
  }
  const result: KubepodsPath = { qosClass };
  const podPart = parts[index];
  if (podPart === undefined) return result;
  const pod = systemd ? POD_SYSTEMD.exec(podPart) : POD_CGROUPFS.exec(podPart);
  if (!pod) return result;
  result.podUid = systemd ? pod[1]!.replace(/_/g, '-') : pod[1]!;
  const containerPart = parts[index + 1];
  if (containerPart === undefined) return result;
  const container = CONTAINER.exec(containerPart);
  // Deeper cgroups (a container's own children) are the container's business: raw.
  if (!container || parts.length > index + 2) return undefined;
  result.containerId = container[2]!;
  if (container[1]) result.runtime = container[1];
  return result;
}

export class KubepodsSource implements ContainerSource {
  readonly kind = 'kubernetes' as const;

  describe(cgroupPath: CgroupPath, facts: CgroupFacts): ContainerInfo | undefined {
    const parsed = parseKubepodsPath(cgroupPath);
    if (!parsed) return undefined;
    const labels: Record<string, string> = { [QOS_CLASS_LABEL]: parsed.qosClass };
    if (parsed.podUid) labels[POD_UID_LABEL] = parsed.podUid;
    const info: ContainerInfo = {
      id: parsed.containerId ?? rawCgroupId(cgroupPath),
      name: parsed.podUid === undefined ? cgroupPath : parsed.containerId === undefined ? `pod${parsed.podUid}` : `pod${parsed.podUid}/${parsed.containerId.slice(0, 12)}`,
      cgroupPath,
      image: '',
      source: 'kubernetes',
      // A pod's own cgroup and the QoS levels only group containers, like systemd slices.
      isContainer: parsed.containerId !== undefined,
      labels,
    };
    if (facts.createdAtMs !== undefined) info.createdAtMs = facts.createdAtMs;
    return info;
  }
}
