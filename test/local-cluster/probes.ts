// Startup, readiness and liveness probes (httpGet and tcpSocket against the pod IP), one loop per probe for
// as long as the process they were started for runs. Periods and delays are scaled by probeScale; thresholds
// are the spec's. A failed startup or liveness probe restarts the container, as the kubelet does.

import net from 'node:net';
import type { V1Container, V1Probe } from '@kubernetes/client-node';
import { killContainer } from './containers.ts';
import { type Cluster, sleep } from './context.ts';
import { port } from './process-spec.ts';
import type { ContainerRun, Sandbox } from './sandbox.ts';

/** Starts the probe loops of the process the container runs now; they end when it ends. */
export function startProbes(cl: Cluster, sb: Sandbox, c: ContainerRun) {
  const epoch = c.epoch;
  const alive = () => c.epoch === epoch && c.child !== undefined && !cl.stopped();
  const s = c.spec;
  const scaled = (sec: number | undefined, dflt: number) => Math.max(100, (sec ?? dflt) * 1000 * cl.o.probeScale);
  const restart = () => void killContainer(c, (sb.pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000);
  const loop = async (probe: V1Probe, gate: () => boolean, onResult: (ok: boolean, failures: number) => void) => {
    await sleep(scaled(probe.initialDelaySeconds, 0));
    let failures = 0;
    let successes = 0;
    while (alive()) {
      if (gate()) {
        const ok = await check(sb, s, probe);
        if (!alive()) return;
        failures = ok ? 0 : failures + 1;
        successes = ok ? successes + 1 : 0;
        onResult(ok && successes >= (probe.successThreshold ?? 1), failures);
      }
      await sleep(scaled(probe.periodSeconds, 10));
    }
  };
  if (s.startupProbe) {
    void loop(
      s.startupProbe,
      () => !c.started,
      (ok, failures) => {
        if (ok) {
          c.started = true;
          cl.kick();
        } else if (failures >= (s.startupProbe?.failureThreshold ?? 3)) {
          cl.log(`pod ${sb.name} container ${s.name}: startup probe failed ${failures} times; restarting it`);
          restart();
        }
      },
    );
  } else c.started = true;
  if (s.readinessProbe) {
    void loop(
      s.readinessProbe,
      () => c.started,
      (ok, failures) => {
        // Readiness flips to false only after failureThreshold failures in a row, back to true on a success.
        const next = ok ? true : failures >= (s.readinessProbe?.failureThreshold ?? 3) ? false : c.ready;
        if (next !== c.ready) {
          c.ready = next;
          cl.kick();
        }
      },
    );
  } else {
    c.ready = true;
    cl.kick();
  }
  if (s.livenessProbe) {
    void loop(
      s.livenessProbe,
      () => c.started,
      (ok, failures) => {
        if (!ok && failures >= (s.livenessProbe?.failureThreshold ?? 3)) {
          cl.log(`pod ${sb.name} container ${s.name}: liveness probe failed ${failures} times; restarting it`);
          restart();
        }
      },
    );
  }
}

/** One probe attempt: an HTTP status 200..399, or a TCP connection, within timeoutSeconds. */
async function check(sb: Sandbox, c: V1Container, probe: V1Probe): Promise<boolean> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) {
    const p = port(c, probe.httpGet.port as number | string);
    const scheme = (probe.httpGet.scheme ?? 'HTTP').toLowerCase();
    try {
      const r = await fetch(`${scheme}://${probe.httpGet.host ?? sb.ip}:${p}${probe.httpGet.path ?? '/'}`, {
        signal: AbortSignal.timeout(timeoutMs),
      });
      await r.arrayBuffer();
      return r.status >= 200 && r.status < 400;
    } catch {
      return false;
    }
  }
  if (probe.tcpSocket) {
    const p = port(c, probe.tcpSocket.port as number | string);
    return new Promise((resolve) => {
      const s = net.connect({ host: probe.tcpSocket?.host ?? sb.ip, port: p ?? 0, timeout: timeoutMs });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
      s.once('timeout', () => {
        s.destroy();
        resolve(false);
      });
    });
  }
  return false;
}
