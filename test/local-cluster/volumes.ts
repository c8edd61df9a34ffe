// A pod's volumes, materialised the kubelet way: ConfigMaps, Secrets and downwardAPI volumes are written
// with the atomic writer (files are symlinks into a ..data directory swapped in one rename, refreshed when
// their source changes), emptyDirs live as long as the pod, PVCs under <dir>/pvcs/<ns>/<claim> outlive it.
// Each container gets a root <podDir>/rootfs/<container> whose mount paths are symlinks to the volumes.

import { randomBytes } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { V1Volume } from '@kubernetes/client-node';
import { type Cluster, isNotFound } from './context.ts';
import { fieldRef, rootOf, type Sandbox } from './sandbox.ts';

function volumeDir(cl: Cluster, sb: Sandbox, v: V1Volume): string {
  if (v.persistentVolumeClaim) return join(cl.o.dir, 'pvcs', sb.namespace, v.persistentVolumeClaim.claimName);
  return join(sb.dir, 'volumes', v.name);
}

/**
 * Writes every volume of the pod (ConfigMaps and Secrets only when their resourceVersion changed) and links
 * the containers' mount paths to them. Throws the kubelet's MountVolume message when a source is missing.
 */
export async function writeVolumes(cl: Cluster, sb: Sandbox) {
  const ns = sb.namespace;
  for (const v of sb.pod.spec?.volumes ?? []) {
    const dir = volumeDir(cl, sb, v);
    if (v.emptyDir || v.persistentVolumeClaim) {
      mkdirSync(dir, { recursive: true });
      continue;
    }
    let files: Map<string, Buffer> | undefined;
    let version = '';
    if (v.configMap) {
      const cm = await cl.core.readNamespacedConfigMap({ name: v.configMap.name ?? '', namespace: ns }).catch((e) => {
        if (isNotFound(e) && v.configMap?.optional) return undefined;
        throw new Error(`MountVolume.SetUp failed for volume "${v.name}": configmap "${v.configMap?.name}" not found`);
      });
      version = cm?.metadata?.resourceVersion ?? '';
      const data = new Map<string, Buffer>([
        ...Object.entries(cm?.data ?? {}).map(([k, s]) => [k, Buffer.from(s)] as [string, Buffer]),
        ...Object.entries(cm?.binaryData ?? {}).map(([k, s]) => [k, Buffer.from(s, 'base64')] as [string, Buffer]),
      ]);
      files = pick(data, v.configMap.items);
    } else if (v.secret) {
      const s = await cl.core.readNamespacedSecret({ name: v.secret.secretName ?? '', namespace: ns }).catch((e) => {
        if (isNotFound(e) && v.secret?.optional) return undefined;
        throw new Error(`MountVolume.SetUp failed for volume "${v.name}": secret "${v.secret?.secretName}" not found`);
      });
      version = s?.metadata?.resourceVersion ?? '';
      const data = new Map(Object.entries(s?.data ?? {}).map(([k, b]) => [k, Buffer.from(b, 'base64')]));
      files = pick(data, v.secret.items);
    } else if (v.downwardAPI) {
      const meta = sb.pod.metadata ?? {};
      const pairs = (m: Record<string, string> | undefined) =>
        Object.entries(m ?? {})
          .map(([k, x]) => `${k}="${x}"`)
          .join('\n');
      files = new Map();
      for (const item of v.downwardAPI.items ?? []) {
        const f = item.fieldRef?.fieldPath ?? '';
        const value =
          f === 'metadata.labels'
            ? pairs(meta.labels)
            : f === 'metadata.annotations'
              ? pairs(meta.annotations)
              : fieldRef(sb, f);
        files.set(item.path, Buffer.from(value));
      }
      version = meta.resourceVersion ?? '';
    } else {
      throw new Error(
        `volume "${v.name}": the local pod runner supports configMap, secret, emptyDir, persistentVolumeClaim and downwardAPI volumes`,
      );
    }
    if (sb.sources.get(v.name) === version && existsSync(dir)) continue;
    writeAtomically(dir, files);
    sb.sources.set(v.name, version);
  }
  // Per-container roots: each mount path is a symlink to its volume (no chroot or mount namespace needed).
  for (const c of sb.containers) {
    const root = rootOf(sb, c.spec.name);
    for (const m of c.spec.volumeMounts ?? []) {
      const v = sb.pod.spec?.volumes?.find((x) => x.name === m.name);
      if (!v) throw new Error(`container ${c.spec.name}: volumeMount "${m.name}" names no volume of the pod`);
      const at = join(root, m.mountPath);
      if (lexists(at)) continue;
      mkdirSync(dirname(at), { recursive: true });
      symlinkSync(join(volumeDir(cl, sb, v), m.subPath ?? ''), at);
    }
  }
}

/** A volume's `items`: only the listed keys, each under its own path; without items, every key. */
function pick(data: Map<string, Buffer>, items: Array<{ key: string; path: string }> | undefined): Map<string, Buffer> {
  if (!items) return data;
  const out = new Map<string, Buffer>();
  for (const i of items) {
    const v = data.get(i.key);
    if (v !== undefined) out.set(i.path, v);
  }
  return out;
}

/**
 * The kubelet's atomic writer: the files live in a timestamped directory, `..data` points at it, and each
 * top-level name is a symlink through `..data`; an update swaps `..data` with one rename, so a reader never
 * sees half a change.
 */
export function writeAtomically(dir: string, files: Map<string, Buffer>) {
  mkdirSync(dir, { recursive: true });
  const stamp = `..${new Date().toISOString().replace(/[:.]/g, '_')}.${randomBytes(3).toString('hex')}`;
  const stampDir = join(dir, stamp);
  for (const [rel, content] of files) {
    mkdirSync(dirname(join(stampDir, rel)), { recursive: true });
    writeFileSync(join(stampDir, rel), content, { mode: 0o644 });
  }
  mkdirSync(stampDir, { recursive: true });
  symlinkSync(stamp, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  const tops = new Set([...files.keys()].map((k) => k.split('/')[0] ?? k));
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('..')) {
      if (entry !== '..data' && entry !== stamp) rmSync(join(dir, entry), { recursive: true, force: true });
    } else if (!tops.has(entry)) unlinkSync(join(dir, entry)); // a symlink into the old generation
  }
  for (const top of tops) if (!existsSync(join(dir, top))) symlinkSync(join('..data', top), join(dir, top));
}

/** Like existsSync, but true for a dangling symlink too (a mount whose volume is not written yet). */
function lexists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
