/** Real TCP and HTTP servers on 127.0.0.1 ephemeral ports, for health-check tests. */
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';

export interface TcpService {
  port: number;
  up(): Promise<void>;
  down(): Promise<void>;
}

async function listen(s: Server | HttpServer, port: number): Promise<number> {
  await new Promise<void>((res, rej) => {
    s.once('error', rej);
    s.listen(port, '127.0.0.1', () => {
      s.off('error', rej);
      res();
    });
  });
  return (s.address() as { port: number }).port;
}

function tracked(s: Server | HttpServer): Set<Socket> {
  const socks = new Set<Socket>();
  s.on('connection', (c: Socket) => {
    socks.add(c);
    c.on('close', () => socks.delete(c));
  });
  return socks;
}

async function closeServer(s: Server | HttpServer, socks: Set<Socket>): Promise<void> {
  if (!s.listening) return;
  for (const c of socks) c.destroy();
  await new Promise<void>((res) => s.close(() => res()));
}

/** A TCP listener that can be stopped and started again on the same port. */
export async function tcpService(): Promise<TcpService> {
  let server: Server | undefined;
  let socks = new Set<Socket>();
  const make = () => {
    server = createTcpServer((c) => c.end());
    socks = tracked(server);
    return server;
  };
  const port = await listen(make(), 0);
  return {
    port,
    async up() {
      if (!server?.listening) await listen(make(), port);
    },
    async down() {
      if (server) await closeServer(server, socks);
    },
  };
}

export interface HttpService extends TcpService {
  status: number;
  hang: boolean;
  requests: number;
}

/** An HTTP server answering every request with `status` (or never, while `hang`). */
export async function httpService(): Promise<HttpService> {
  let server: HttpServer | undefined;
  let socks = new Set<Socket>();
  const svc = {
    port: 0,
    status: 200,
    hang: false,
    requests: 0,
    async up() {
      if (!server?.listening) await listen(make(), svc.port);
    },
    async down() {
      if (server) await closeServer(server, socks);
    },
  };
  const make = () => {
    server = createHttpServer((req, res) => {
      svc.requests++;
      if (!svc.hang) res.writeHead(svc.status).end('ok');
    });
    socks = tracked(server);
    return server;
  };
  svc.port = await listen(make(), 0);
  return svc;
}
