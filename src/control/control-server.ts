import { createServer, type Server, type Socket } from 'node:net';
import { chmod, chown, mkdir, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { Logger } from '../util/logger.js';
import { RtreflectError } from '../util/errors.js';

export type ControlHandler = (args: Record<string, unknown>, progress: (p: Record<string, unknown>) => void) => Promise<unknown>;

export interface ControlServerOptions {
  path: string;
  /** Group allowed besides root (socket mode 0660); without one the socket is 0600, root only. */
  group?: string;
  logger: Logger;
  handlers: Record<string, ControlHandler>;
}

const MAX_REQUEST_BYTES = 64 * 1024;

/**
 * The daemon's local control socket: one JSON request per line, answered by
 * JSON lines (`{"progress":...}` any number of times, then `{"ok":true,"result":...}`
 * or `{"ok":false,"error":...}`). Access is the socket file's: root, plus one
 * group if configured.
 */
export class ControlServer {
  private server: Server | undefined;
  private readonly clients = new Set<Socket>();

  constructor(private readonly opts: ControlServerOptions) {}

  async start(): Promise<void> {
    const { path } = this.opts;
    const dir = dirname(path);
    // Only a directory we made (or systemd's RuntimeDirectory=) is ours to hand to the group; never /run or /tmp.
    const created = await mkdir(dir, { recursive: true, mode: 0o750 });
    const ownDir = created !== undefined || (process.env.RUNTIME_DIRECTORY ?? '').split(':').includes(dir);
    await removeStaleSocket(path);
    const gid = this.opts.group !== undefined ? groupId(this.opts.group) : undefined;
    const server = createServer((sock) => this.onClient(sock));
    // umask-independent: no window where the socket is world-connectable.
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) =>
          reject(
            new RtreflectError(
              'ERR_CONTROL_LISTEN',
              `cannot listen on control socket ${path}: ${err.code ?? err.message}; is another rtreflect running? (control.socket in the config)`,
            ),
          ),
        );
        server.listen(path, () => resolve());
      });
    } finally {
      process.umask(oldMask);
    }
    this.server = server;
    if (gid !== undefined) {
      try {
        await this.giveToGroup(path, dir, ownDir, gid);
      } catch (err) {
        await this.close();
        throw err;
      }
    }
  }

  /** Socket 0660 root:group; its directory traversable by the group (or members could not reach it). */
  private async giveToGroup(path: string, dir: string, ownDir: boolean, gid: number): Promise<void> {
    const group = this.opts.group!;
    try {
      // uid -1: keep the owner; changing only the group needs no CAP_CHOWN when we are a member.
      await chown(path, -1, gid);
      await chmod(path, 0o660);
      if (ownDir) {
        await chown(dir, -1, gid);
        await chmod(dir, 0o750);
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new RtreflectError(
        'ERR_CONTROL_LISTEN',
        `control.group: cannot give the control socket ${path} to group "${group}" (${code}): ` +
          'rtreflect needs CAP_CHOWN or to be a member of that group; under systemd add "SupplementaryGroups=' +
          group +
          '" and "SystemCallFilter=@chown" in a drop-in (systemctl edit rtreflect; see the comments in rtreflect.service)',
      );
    }
    const st = await stat(dir);
    const traversable = (st.mode & 0o001) !== 0 || ((st.mode & 0o010) !== 0 && st.gid === gid);
    if (!traversable) {
      this.opts.logger.warn(
        { dir, group },
        `control.group: members of "${group}" cannot enter ${dir} (mode ${(st.mode & 0o777).toString(8)}); give the directory to the group or put the socket in a directory of its own`,
      );
    }
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.destroy();
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    await rm(this.opts.path, { force: true });
  }

  private onClient(sock: Socket): void {
    this.clients.add(sock);
    sock.on('close', () => this.clients.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_REQUEST_BYTES) {
        this.reply(sock, { ok: false, error: 'request too large' });
        sock.end();
        return;
      }
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = '';
      sock.pause();
      void this.handle(sock, line);
    });
  }

  private async handle(sock: Socket, line: string): Promise<void> {
    let req: { cmd?: unknown; args?: unknown };
    try {
      req = JSON.parse(line) as typeof req;
    } catch {
      this.reply(sock, { ok: false, error: 'request is not JSON' });
      sock.end();
      return;
    }
    const cmd = typeof req.cmd === 'string' ? req.cmd : '';
    const handler = Object.hasOwn(this.opts.handlers, cmd) ? this.opts.handlers[cmd] : undefined;
    if (!handler) {
      this.reply(sock, { ok: false, error: `unknown command "${cmd}"; known: ${Object.keys(this.opts.handlers).join(', ')}` });
      sock.end();
      return;
    }
    this.opts.logger.debug({ cmd }, 'control request');
    try {
      const args = req.args && typeof req.args === 'object' ? (req.args as Record<string, unknown>) : {};
      const result = await handler(args, (p) => this.reply(sock, { progress: p }));
      this.reply(sock, { ok: true, result });
    } catch (err) {
      this.reply(sock, { ok: false, error: (err as Error).message, code: (err as RtreflectError).code });
    }
    sock.end();
  }

  private reply(sock: Socket, obj: unknown): void {
    if (!sock.destroyed) sock.write(JSON.stringify(obj) + '\n');
  }
}

async function removeStaleSocket(path: string): Promise<void> {
  try {
    const st = await stat(path);
    if (!st.isSocket())
      throw new RtreflectError('ERR_CONTROL_LISTEN', `control socket path ${path} exists and is not a socket; remove it or change control.socket`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  // A live daemon answers; a stale file from a crash does not.
  const { connect } = await import('node:net');
  const alive = await new Promise<boolean>((resolve) => {
    const c = connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (alive) throw new RtreflectError('ERR_CONTROL_LISTEN', `another rtreflect is already listening on ${path}; stop it first or set control.socket`);
  await rm(path, { force: true });
}

function groupId(name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  try {
    const out = execFileSync('getent', ['group', name], { encoding: 'utf8' });
    return Number(out.split(':')[2]);
  } catch {
    throw new RtreflectError('ERR_CONFIG', `control.group: no group named "${name}" on this system; create it or remove the option`);
  }
}
