// Cluster DNS for the local pod runner's Node processes (preloaded with node --import, process-spec.ts): a Service name
// (<svc>, <svc>.<ns>, <svc>.<ns>.svc, <svc>.<ns>.svc.cluster.local) resolves to a ready endpoint pod's
// 127.0.0.x address, from the table the runner keeps in $MQTT2PG_LOCAL_CLUSTER_HOSTS. Without it a worker
// could not reach the operator's `<pipeline>-pgbouncer.<ns>.svc`. There is no kube-proxy: the Service port
// must be the pod's port (true for every Service the operator renders). Other names resolve as usual.

import dns from 'node:dns';
import { readFileSync, statSync } from 'node:fs';

const file = process.env.MQTT2PG_LOCAL_CLUSTER_HOSTS;
let hosts: Record<string, string> = {};
let seen = -1;

function resolve(hostname: string): string | undefined {
  if (!file) return undefined;
  try {
    const m = statSync(file).mtimeMs;
    if (m !== seen) {
      hosts = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
      seen = m;
    }
  } catch {
    hosts = {};
  }
  return hosts[hostname.toLowerCase().replace(/\.$/, '')];
}

type Callback = (err: NodeJS.ErrnoException | null, address: unknown, family?: number) => void;
const original = dns.lookup as unknown as (host: string, options: unknown, cb: Callback) => void;

function lookup(hostname: string, options: unknown, callback?: Callback) {
  const cb = (typeof options === 'function' ? options : callback) as Callback;
  const opts = typeof options === 'function' || options == null ? {} : options;
  const ip = resolve(hostname);
  if (!ip) return original(hostname, opts, cb);
  const all = typeof opts === 'object' && (opts as { all?: boolean }).all;
  if (all) process.nextTick(cb, null, [{ address: ip, family: 4 }]);
  else process.nextTick(cb, null, ip, 4);
}

(dns as unknown as { lookup: typeof lookup }).lookup = lookup;
const originalPromise = dns.promises.lookup as unknown as (host: string, options?: unknown) => Promise<unknown>;
(dns.promises as unknown as { lookup: (h: string, o?: unknown) => Promise<unknown> }).lookup = async (h, o) => {
  const ip = resolve(h);
  if (!ip) return originalPromise(h, o);
  return typeof o === 'object' && o && (o as { all?: boolean }).all
    ? [{ address: ip, family: 4 }]
    : { address: ip, family: 4 };
};
