// spec.paused in the worker: stop taking messages without dropping any, drain the WAL, wait; resume on
// unpause. Applied live from the pipeline watch (scale-watch.ts), and from the pipeline file at start.
//
// How: the worker stops reading its connection, as it does for backpressure, and keeps the connection and
// the session. MQTT 5 flow control (§4.9) then stops the broker at the worker's Receive Maximum of
// unacknowledged messages; everything after that stays queued in the session (§4.1: "QoS 1 and QoS 2
// messages pending transmission to the Client" are session state), and the subscription stays, so a shared
// subscription keeps a member and drops nothing for want of one. Disconnecting instead would start the
// Session Expiry clock (§3.1.2.11.2): a pause longer than source.sessionExpiry would lose the session and all
// it holds; a connected session never expires. Mosquitto queues per session up to max_queued_messages /
// max_queued_bytes whether the client is connected or not, so the limits a pause needs are the ones an
// outage already needs (docs/brokers.md). The worker keeps sending PINGREQ, so the broker's keepalive holds;
// it reads no PINGRESP while paused and expects none.

import type { Logger } from '../common/logger.ts';

export interface Pausable {
  hold(on: boolean): void;
}

export interface WalCount {
  readonly messages: number;
  on(event: 'committed', listener: () => void): unknown;
}

export class PauseControl {
  private readonly receiver: Pausable;
  private readonly wal: WalCount;
  private readonly log: Logger;
  paused = false;
  private drainedLogged = false;

  constructor(receiver: Pausable, wal: WalCount, log: Logger) {
    this.receiver = receiver;
    this.wal = wal;
    this.log = log;
    wal.on('committed', () => this.noteDrained());
  }

  set(paused: boolean): void {
    if (paused === this.paused) return;
    this.paused = paused;
    this.receiver.hold(paused);
    if (paused) {
      this.drainedLogged = false;
      this.log.info(
        { walMessages: this.wal.messages },
        'paused (spec.paused): reading nothing from the broker, which keeps new messages in this worker’s session; draining the WAL',
      );
      this.noteDrained();
    } else {
      this.log.info('resumed (spec.paused false): reading from the broker again');
    }
  }

  private noteDrained(): void {
    if (!this.paused || this.drainedLogged || this.wal.messages > 0) return;
    this.drainedLogged = true;
    this.log.info('paused and drained: every acknowledged message is committed');
  }
}
