// The worker's ledger test against each broker users run that this machine can build (docs/brokers.md):
// QoS 1 load, a kill -9 of the worker mid-load, a restart that resumes the session, a SIGTERM at the end.
// Every id the broker acknowledged to the publisher must be stored, unless the broker itself loses it: a
// broker's known loss is asserted exactly as documented (beyondKnownLoss) and printed, never hidden.
// Short form in `make test`; `make interop` runs the size (MQTT2PG_INTEROP_COUNT, _RATE).

import { after, describe, test } from 'node:test';
import { BROKER_KINDS, TestBroker } from '../../lib/brokers.ts';
import { cleanupDirs } from '../../lib/worker-process.ts';
import { COUNT, killNineRun } from './kill-nine.ts';

after(cleanupDirs);

for (const kind of BROKER_KINDS) {
  describe(`interop: ${kind}`, () => {
    test(`${COUNT} QoS 1 messages, kill -9 of the worker mid-load, restart, SIGTERM: acknowledged ids stored`, async (t) => {
      const broker = await TestBroker.start(kind);
      try {
        await killNineRun(t, {
          kind,
          label: kind,
          workerUrl: broker.url,
          publishUrl: broker.url,
          dropped: () => broker.dropped,
        });
      } finally {
        await broker.stop();
      }
    });
  });
}
