// A tiny HTTP server for /metrics and the health endpoints (worker and operator alike).

import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Route = (req: http.IncomingMessage) => Promise<{ status: number; body: string; type?: string }>;

export async function serve(port: number, host: string, routes: Record<string, Route>): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    const route = routes[path];
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found; try ${Object.keys(routes).join(', ')}\n`);
      return;
    }
    route(req).then(
      (r) => res.writeHead(r.status, { 'content-type': r.type ?? 'text/plain; charset=utf-8' }).end(r.body),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `cannot listen on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use; choose another with the port flags' : err.message}`,
        ),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return server;
}

export const portOf = (s: http.Server) => (s.address() as AddressInfo).port;

export const closeServer = (s: http.Server) =>
  new Promise<void>((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections();
  });
