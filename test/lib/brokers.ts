// MQTT brokers other than the environment's Mosquitto, started by a test as child processes: Comqtt and
// Mochi (built by test/env/build-go-tool.sh, paths in COMQTT_BIN / MOCHI_BIN), HiveMQ CE and Moquette
// (fetched by test/env/fetch-jvm-tool.sh: HIVEMQ_BIN / MOQUETTE_BIN) and a Mosquitto of the test's own
// (MOSQUITTO_BIN), each on 127.0.0.1 without authentication and without persistence, so a restart loses
// every session. Ports: MQTT2PG_INTEROP_PORT_BASE and up when set, else free ones.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireEnv } from './env.ts';
import { eventually } from './eventually.ts';
import { freePort } from './free-port.ts';

export type BrokerKind = 'mosquitto' | 'comqtt' | 'mochi' | 'hivemq' | 'moquette';

/** Log lines in which Comqtt or Mochi say they dropped a message held for a session (server.go). */
const DROP_LINE = /client store quota reached|packet ids exhausted/;
/** The brokers the worker can ingest from (Moquette 0.17 cannot: no MQTT 5, no shared subscriptions). */
export const BROKER_KINDS = ['mosquitto', 'comqtt', 'mochi', 'hivemq'] as const;
export type IngestBrokerKind = (typeof BROKER_KINDS)[number];

const BIN_ENV: Record<BrokerKind, string> = {
  mosquitto: 'MOSQUITTO_BIN',
  comqtt: 'COMQTT_BIN',
  mochi: 'MOCHI_BIN',
  hivemq: 'HIVEMQ_BIN',
  moquette: 'MOQUETTE_BIN',
};
/** A JVM broker takes seconds to start (HiveMQ about 9 s on the 2-core test machine). */
const START_TIMEOUT_MS: Record<BrokerKind | ClusterPartKind, number> = {
  mosquitto: 15_000,
  comqtt: 15_000,
  'comqtt-node': 15_000,
  redis: 15_000,
  mochi: 15_000,
  hivemq: 90_000,
  moquette: 60_000,
};

/** A child process test/lib/comqtt-cluster.ts starts: one node of the cluster, or its Redis. */
export type ClusterPartKind = 'comqtt-node' | 'redis';

let nextPort = Number(process.env.MQTT2PG_INTEROP_PORT_BASE ?? 0);
export async function port(): Promise<number> {
  return nextPort > 0 ? nextPort++ : await freePort();
}

/** Command line of one broker listening for MQTT on `mqtt`, with its other listeners on `extra`. */
function commandLine(kind: BrokerKind, dir: string, mqtt: number, extra: number[]): string[] {
  const at = (p: number | undefined) => `127.0.0.1:${p}`;
  switch (kind) {
    case 'mosquitto': {
      // As the environment's Mosquitto (test/env/mosquitto.sh): unlimited queues, no persistence.
      const conf = join(dir, 'mosquitto.conf');
      writeFileSync(
        conf,
        [
          `listener ${mqtt} 127.0.0.1`,
          'allow_anonymous true',
          'max_queued_messages 0',
          'max_queued_bytes 0',
          'persistence false',
          'log_dest stderr',
        ].join('\n'),
      );
      return ['-c', conf];
    }
    case 'comqtt':
      // storage-way 0: sessions in memory only; auth-way 0: anonymous (any user name and password pass).
      return [
        '-storage-way=0',
        '-auth-way=0',
        `-tcp=${at(mqtt)}`,
        `-ws=${at(extra[0])}`,
        `-quic=${at(extra[1])}`,
        `-http=${at(extra[2])}`,
        `-log-file=${join(dir, 'comqtt.log')}`,
      ];
    case 'mochi':
      return [`-tcp=${at(mqtt)}`, `-ws=${at(extra[0])}`, `-info=${at(extra[1])}`];
    case 'hivemq':
      // As docs/brokers.md recommends: a session queue beyond any test's backlog (default 1,000, then it
      // discards new messages), and a Receive Maximum for publishers above the test publisher's in-flight
      // window (default 10). In-memory persistence: a kill loses every session, as with the others.
      mkdirSync(join(dir, 'conf'), { recursive: true });
      writeFileSync(
        join(dir, 'conf', 'config.xml'),
        [
          '<?xml version="1.0"?>',
          '<hivemq>',
          `  <listeners><tcp-listener><port>${mqtt}</port><bind-address>127.0.0.1</bind-address></tcp-listener></listeners>`,
          '  <mqtt>',
          '    <queued-messages><max-queue-size>10000000</max-queue-size><strategy>discard</strategy></queued-messages>',
          '    <receive-maximum><server-receive-maximum>65535</server-receive-maximum></receive-maximum>',
          '  </mqtt>',
          '  <persistence><mode>in-memory</mode></persistence>',
          '  <anonymous-usage-statistics><enabled>false</enabled></anonymous-usage-statistics>',
          '</hivemq>',
        ].join('\n'),
      );
      return [];
    case 'moquette':
      // Its Server reads config/moquette.conf under the working directory.
      mkdirSync(join(dir, 'config'), { recursive: true });
      writeFileSync(
        join(dir, 'config', 'moquette.conf'),
        [
          `port ${mqtt}`,
          'host 127.0.0.1',
          'websocket_port disabled',
          'allow_anonymous true',
          'persistence_enabled false',
        ].join('\n'),
      );
      return [];
  }
}

function accepting(p: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: p });
    s.once('connect', () => {
      s.destroy();
      resolve();
    });
    s.once('error', reject);
  });
}

export class TestBroker {
  readonly kind: BrokerKind | ClusterPartKind;
  readonly url: string;
  output = '';
  /** Messages the broker logged as dropped from a session (DROP_LINE), over all its runs. */
  dropped = 0;
  private partialLine = '';
  private readonly bin: string;
  private readonly args: string[];
  private readonly dir: string;
  private readonly port: number;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(kind: BrokerKind | ClusterPartKind, bin: string, dir: string, mqtt: number, args: string[]) {
    this.kind = kind;
    this.bin = bin;
    this.dir = dir;
    this.port = mqtt;
    this.args = args;
    this.url = `mqtt://127.0.0.1:${mqtt}`;
  }

  static async start(kind: BrokerKind): Promise<TestBroker> {
    const bin = requireEnv(BIN_ENV[kind]);
    if (!existsSync(bin))
      throw new Error(
        `${bin} (${BIN_ENV[kind]}) is missing: build it with 'test/env/up.sh' (or build-go-tool.sh / fetch-jvm-tool.sh ${kind})`,
      );
    const dir = mkdtempSync(join(tmpdir(), `mqtt2pg-broker-${kind}-`));
    const mqtt = await port();
    const extra = [await port(), await port(), await port()];
    const b = new TestBroker(kind, bin, dir, mqtt, commandLine(kind, dir, mqtt, extra));
    await b.launch();
    return b;
  }

  /** A process of a cluster, started in `dir` (its configuration there) and waited for on `mqtt`. */
  static async startPart(
    kind: ClusterPartKind,
    bin: string,
    dir: string,
    mqtt: number,
    args: string[],
  ): Promise<TestBroker> {
    const b = new TestBroker(kind, bin, dir, mqtt, args);
    await b.launch();
    return b;
  }

  private async launch(): Promise<void> {
    const child = spawn(this.bin, this.args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const keep = (b: Buffer) => {
      const text = b.toString();
      this.output = (this.output + text).slice(-200_000);
      const lines = (this.partialLine + text).split('\n');
      this.partialLine = lines.pop() ?? '';
      for (const l of lines) if (DROP_LINE.test(l)) this.dropped++;
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await eventually(
      async () => {
        if (child.exitCode !== null) throw new Error(`${this.kind} exited with ${child.exitCode}: ${this.output}`);
        await accepting(this.port);
      },
      { timeoutMs: START_TIMEOUT_MS[this.kind], what: `${this.kind} accepting on ${this.url}` },
    );
  }

  /** Stops the broker (SIGKILL: whatever it held in memory is gone) and starts it again on the same port. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
