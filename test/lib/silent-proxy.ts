// A TCP proxy that can go silent: it keeps accepting and holding connections but forwards nothing either way
// (a peer that blackholes, e.g. a PgBouncer or network path that hangs). Connections silenced stay silent
// after `resume()`, as after a real blackhole their protocol state is lost; new ones forward again.

import { connect, createServer, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket | undefined;
  silent: boolean;
}

export class SilentProxy {
  private readonly server: Server;
  private readonly pairs = new Set<Pair>();
  private silent = false;

  private constructor(target: { host: string; port: number }) {
    this.server = createServer((client) => {
      const pair: Pair = { client, upstream: undefined, silent: this.silent };
      this.pairs.add(pair);
      const end = () => {
        client.destroy();
        pair.upstream?.destroy();
        this.pairs.delete(pair);
      };
      client.on('error', end).on('close', end);
      if (!pair.silent) {
        const upstream = connect(target.port, target.host);
        pair.upstream = upstream;
        upstream.on('error', end).on('close', end);
        upstream.on('data', (d) => pair.silent || client.write(d));
      }
      client.on('data', (d) => pair.silent || pair.upstream?.write(d));
    });
  }

  /** The port it listens on (start with port 0 for a free one). */
  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  static async start(port: number, target: { host: string; port: number }): Promise<SilentProxy> {
    const p = new SilentProxy(target);
    await new Promise<void>((resolve, reject) => {
      p.server.once('error', reject);
      p.server.listen(port, '127.0.0.1', () => resolve());
    });
    return p;
  }

  /** From now on nothing is forwarded, on open connections and on new ones; nothing is closed either. */
  silence(): void {
    this.silent = true;
    for (const p of this.pairs) p.silent = true;
  }

  /** New connections forward again; the silenced ones stay silent until their ends close them. */
  resume(): void {
    this.silent = false;
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
