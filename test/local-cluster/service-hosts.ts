// The stand-in for cluster DNS and kube-proxy: a table from Service names to the address of a ready pod the
// Service selects, written to <dir>/hosts.json, which cluster-dns.ts reads inside every `mqtt2pg` process.

import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import { type Cluster, isActive, isReady, type ResolvedOptions, SELECTOR } from './context.ts';

export const hostsFile = (o: ResolvedOptions) => join(o.dir, 'hosts.json');

/**
 * Each Service's names (<svc>, <svc>.<ns>, <svc>.<ns>.svc, <svc>.<ns>.svc.cluster.local) → the IP of the
 * first ready, active pod (by name) its selector matches; a Service without one has no entry.
 */
export function serviceHosts(ns: string, services: V1Service[], pods: V1Pod[]): Record<string, string> {
  const table: Record<string, string> = {};
  for (const svc of services) {
    const sel = svc.spec?.selector;
    if (!sel) continue;
    const ready = pods
      .filter((p) => isActive(p) && isReady(p) && p.status?.podIP)
      .filter((p) => Object.entries(sel).every(([k, v]) => p.metadata?.labels?.[k] === v))
      .sort((a, b) => String(a.metadata?.name).localeCompare(String(b.metadata?.name)));
    const ip = ready[0]?.status?.podIP;
    if (!ip) continue;
    const n = svc.metadata?.name ?? '';
    for (const host of [n, `${n}.${ns}`, `${n}.${ns}.svc`, `${n}.${ns}.svc.cluster.local`]) table[host] = ip;
  }
  return table;
}

export class ServiceHosts {
  private readonly cl: Cluster;
  private text = '';

  constructor(cl: Cluster) {
    this.cl = cl;
  }

  /** Rewrites the table when it changed; a rename, so a process never reads half of it. */
  async write(pods: V1Pod[]) {
    const ns = this.cl.o.namespace;
    const services = (await this.cl.core.listNamespacedService({ namespace: ns, labelSelector: SELECTOR })).items;
    const text = JSON.stringify(serviceHosts(ns, services, pods));
    if (text === this.text) return;
    const file = hostsFile(this.cl.o);
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
    this.text = text;
  }
}
