// Lease-based leader election (coordination.k8s.io/v1), the algorithm of client-go's leaderelection: a
// candidate takes the Lease when it is absent, released, or has not been renewed for leaseDuration as
// measured on the candidate's own monotonic clock (so neither clock skew between nodes nor a step of the wall
// clock matters); every write carries the resourceVersion it read, so two candidates can never both win. The
// leader renews every retryPeriod and gives up when it could not renew for renewDeadline, before anyone else
// may take over, even while a renewal is still waiting for an answer.

import { sleep } from '../../common/backoff.ts';
import { ApiError, isConflict, isNotFound, type KubeClient } from './kube.ts';

const monotonicMs = (): number => performance.now();

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string; labels?: Record<string, string> };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** MicroTime as the API server wants it: RFC 3339 with exactly six fractional digits. */
export const microTime = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export function validateLeaderElection(
  o: Pick<LeaderElectionOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>,
) {
  if (o.leaseDurationMs <= o.renewDeadlineMs) {
    throw new Error(
      `--lease-duration (${o.leaseDurationMs} ms) must be longer than --renew-deadline (${o.renewDeadlineMs} ms): a leader must give up before another may take over`,
    );
  }
  if (o.renewDeadlineMs <= o.retryPeriodMs) {
    throw new Error(
      `--renew-deadline (${o.renewDeadlineMs} ms) must be longer than --retry-period (${o.retryPeriodMs} ms) so a leader retries at least once before giving up`,
    );
  }
  if (o.leaseDurationMs < 1000)
    throw new Error('--lease-duration must be at least 1s (the Lease stores whole seconds)');
}

export class LeaderElector {
  private readonly client: KubeClient;
  private readonly o: LeaderElectionOptions;
  /** `at` is on the monotonic clock: when this candidate first saw that resourceVersion. */
  private observed?: { holder: string; renewTime: string; rv: string; durationMs: number; at: number };
  /** Monotonic time at which the last successful acquire or renew started: the Lease is ours from then on. */
  private renewedAt = 0;
  private lease?: Lease;
  private leading = false;

  constructor(client: KubeClient, o: LeaderElectionOptions) {
    validateLeaderElection(o);
    this.client = client;
    this.o = o;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  private get path() {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.o.namespace}/leases/${this.o.name}`;
  }

  /** Blocks until this candidate holds the Lease (true) or the signal aborts (false). */
  async acquire(signal: AbortSignal): Promise<boolean> {
    let announced = false;
    while (!signal.aborted) {
      const started = monotonicMs();
      try {
        if (await this.tryAcquireOrRenew(signal)) {
          this.renewedAt = started;
          this.leading = true;
          this.o.log?.('info', 'became the leader', {
            lease: `${this.o.namespace}/${this.o.name}`,
            identity: this.o.identity,
          });
          return true;
        }
        if (!announced && this.observed?.holder) {
          announced = true;
          this.o.log?.('info', 'another operator is the leader; standing by', { leader: this.observed.holder });
        }
      } catch (err) {
        this.o.log?.('warn', 'leader election: could not read or write the Lease', { err: (err as Error).message });
      }
      await sleep(this.o.retryPeriodMs * (1 + Math.random() * 0.2), signal);
    }
    return false;
  }

  /**
   * Renews until renewal fails for renewDeadline (resolves 'lost') or the signal aborts (resolves 'stopped').
   * The deadline counts from the start of the last successful renewal, on the monotonic clock, and cuts a
   * renewal that is still waiting: a standby counts the lease duration from when it saw that renewal, so
   * stepping down at the deadline always comes before a takeover, however long a request hangs.
   */
  async hold(signal: AbortSignal): Promise<'lost' | 'stopped'> {
    while (!signal.aborted) {
      await sleep(this.o.retryPeriodMs, signal);
      if (signal.aborted) break;
      const left = this.renewedAt + this.o.renewDeadlineMs - monotonicMs();
      if (left <= 0) return this.stepDown('the renew deadline passed');
      const started = monotonicMs();
      try {
        if (await this.tryAcquireOrRenew(AbortSignal.any([signal, AbortSignal.timeout(Math.ceil(left))]))) {
          this.renewedAt = started;
          continue;
        }
        // Someone else holds a valid Lease: we lost it (e.g. our renewals were delayed past the duration).
        return this.stepDown('another candidate holds the Lease');
      } catch (err) {
        if (signal.aborted) break;
        this.o.log?.('warn', 'leader election: renewing the Lease failed', { err: (err as Error).message });
      }
      // An attempt cut at the deadline must not wait another retry period before stepping down.
      if (monotonicMs() >= this.renewedAt + this.o.renewDeadlineMs) return this.stepDown('the renew deadline passed');
    }
    return 'stopped';
  }

  private stepDown(why: string): 'lost' {
    this.leading = false;
    this.o.log?.('warn', 'leader election: stepping down', { why, renewDeadlineMs: this.o.renewDeadlineMs });
    return 'lost';
  }

  /** Hands the Lease over at once on graceful shutdown instead of making the next leader wait it out. */
  async release(): Promise<void> {
    if (!this.leading || !this.lease) return;
    this.leading = false;
    const now = microTime(new Date());
    const lease: Lease = {
      ...this.lease,
      spec: { ...this.lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now, acquireTime: now },
    };
    try {
      await this.client.request('PUT', this.path, { body: lease, timeoutMs: 5_000 });
    } catch (err) {
      this.o.log?.('warn', 'could not release the Lease; the next leader waits for it to expire', {
        err: (err as Error).message,
      });
    }
  }

  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const now = new Date();
    const durationSeconds = Math.max(1, Math.round(this.o.leaseDurationMs / 1000));
    let current: Lease | undefined;
    try {
      current = await this.client.request<Lease>('GET', this.path, { timeoutMs: this.o.retryPeriodMs * 2, signal });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!current) {
      const lease: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.o.name, namespace: this.o.namespace, labels: { 'app.kubernetes.io/name': 'mqtt2pg' } },
        spec: {
          holderIdentity: this.o.identity,
          leaseDurationSeconds: durationSeconds,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        },
      };
      try {
        this.lease = await this.client.request<Lease>(
          'POST',
          `/apis/coordination.k8s.io/v1/namespaces/${this.o.namespace}/leases`,
          { body: lease, timeoutMs: this.o.retryPeriodMs * 2, signal },
        );
        return true;
      } catch (err) {
        if (isConflict(err) || (err instanceof ApiError && err.reason === 'AlreadyExists')) return false;
        throw err;
      }
    }
    const holder = current.spec.holderIdentity ?? '';
    const renewTime = current.spec.renewTime ?? '';
    const rv = current.metadata.resourceVersion ?? '';
    const durationMs = (current.spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (!this.observed || this.observed.rv !== rv) {
      this.observed = { holder, renewTime, rv, durationMs, at: monotonicMs() };
    }
    const ours = holder === this.o.identity;
    const expired = holder === '' || monotonicMs() > this.observed.at + this.observed.durationMs;
    if (!ours && !expired) return false;
    const lease: Lease = {
      ...current,
      spec: {
        holderIdentity: this.o.identity,
        leaseDurationSeconds: durationSeconds,
        acquireTime: ours ? (current.spec.acquireTime ?? microTime(now)) : microTime(now),
        renewTime: microTime(now),
        leaseTransitions: (current.spec.leaseTransitions ?? 0) + (ours ? 0 : 1),
      },
    };
    try {
      this.lease = await this.client.request<Lease>('PUT', this.path, {
        body: lease,
        timeoutMs: this.o.retryPeriodMs * 2,
        signal,
      });
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
    const updated = this.lease;
    this.observed = {
      holder: this.o.identity,
      renewTime: updated.spec.renewTime ?? '',
      rv: updated.metadata.resourceVersion ?? '',
      durationMs: durationSeconds * 1000,
      at: monotonicMs(),
    };
    return true;
  }
}
