// Comqtt as a 2-node cluster, the reference architecture's clustered broker (docs/brokers.md): its cluster
// binary (cmd/cluster, built by test/env/build-go-tool.sh: COMQTT_CLUSTER_BIN), nodes found by gossip
// (serf), coordinated by Raft over gRPC, sessions and subscriptions in a Redis of the test's own
// (REDIS_SERVER_BIN, no persistence). Node 1 bootstraps Raft; node 2 joins through node 1's gossip port.

import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { port, TestBroker } from './brokers.ts';
import { requireEnv } from './env.ts';
import { eventually } from './eventually.ts';

/** One node's config file (the cluster binary reads nothing else once -conf is given). */
function nodeConfig(o: {
  name: string;
  dir: string;
  ports: number[];
  seed: number;
  bootstrap: boolean;
  redis: number;
}): string {
  const [gossip, raft, grpc, mqtt, ws, http] = o.ports;
  return `storage-way: 3
bridge-way: 0
pprof-enable: false
dashboard-enable: false
auth:
  way: 0
  datasource: 0
cluster:
  discovery-way: 0
  node-name: ${o.name}
  bind-addr: 127.0.0.1
  bind-port: ${gossip}
  members: [127.0.0.1:${o.seed}]
  queue-depth: 10240
  raft-impl: 0
  raft-port: ${raft}
  raft-dir: ${join(o.dir, 'raft')}
  raft-bootstrap: ${o.bootstrap}
  grpc-enable: true
  grpc-port: ${grpc}
  inbound-pool-size: 40960
  outbound-pool-size: 40960
mqtt:
  tcp: 127.0.0.1:${mqtt}
  ws: 127.0.0.1:${ws}
  http: 127.0.0.1:${http}
  options:
    inline-client: true
    capabilities:
      maximum-session-expiry-interval: 4294967295
      maximum-client-writes-pending: 65535
      receive-maximum: 1024
      maximum-qos: 2
      retain-available: 1
      wildcard-sub-available: 1
      shared-sub-available: 1
      minimum-protocol-version: 3
redis:
  options:
    addr: 127.0.0.1:${o.redis}
    db: 0
  prefix: comqtt
log:
  enable: true
  format: 0
  output: 0
  level: 0
`;
}

export class ComqttCluster {
  readonly redis: TestBroker;
  readonly nodes: TestBroker[];
  private readonly dir: string;

  private constructor(dir: string, redis: TestBroker, nodes: TestBroker[]) {
    this.dir = dir;
    this.redis = redis;
    this.nodes = nodes;
  }

  /** Messages the nodes logged as dropped from a session. */
  get dropped(): number {
    return this.nodes.reduce((n, b) => n + b.dropped, 0);
  }

  static async start(): Promise<ComqttCluster> {
    const bin = requireEnv('COMQTT_CLUSTER_BIN');
    const redisBin = requireEnv('REDIS_SERVER_BIN');
    for (const [b, v] of [
      [bin, 'COMQTT_CLUSTER_BIN'],
      [redisBin, 'REDIS_SERVER_BIN'],
    ])
      if (!existsSync(b as string))
        throw new Error(
          `${b} (${v}) is missing: run 'test/env/up.sh' (it builds the Comqtt cluster, installs redis-server)`,
        );
    const dir = mkdtempSync(join(tmpdir(), 'mqtt2pg-comqtt-cluster-'));
    const parts: TestBroker[] = [];
    try {
      const redisPort = await port();
      const redis = await TestBroker.startPart('redis', redisBin, dir, redisPort, [
        '--port',
        `${redisPort}`,
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
      ]);
      parts.push(redis);
      let seed = 0;
      for (const name of ['c01', 'c02']) {
        const nodeDir = join(dir, name);
        mkdirSync(nodeDir);
        const ports = [];
        for (let i = 0; i < 6; i++) ports.push(await port());
        seed ||= ports[0] as number;
        const conf = join(nodeDir, 'node.yml');
        writeFileSync(
          conf,
          nodeConfig({ name, dir: nodeDir, ports, seed, bootstrap: name === 'c01', redis: redisPort }),
        );
        parts.push(await TestBroker.startPart('comqtt-node', bin, nodeDir, ports[3] as number, ['-conf', conf]));
      }
      const first = parts[1] as TestBroker;
      await eventually(
        async () => {
          if (!/raft join" node=c02/.test(first.output)) throw new Error(first.output.slice(-2000));
        },
        { timeoutMs: 30_000, what: 'node c02 joined the Comqtt cluster' },
      );
      return new ComqttCluster(dir, redis, parts.slice(1));
    } catch (e) {
      for (const p of parts.reverse()) await p.stop();
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) await n.stop();
    await this.redis.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
