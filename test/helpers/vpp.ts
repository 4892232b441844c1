import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import type { VppClient } from '../../src/sinks/vpp/vpp-client.js';
import { bytesToAddr } from '../../src/util/ip.js';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { packageRoot } from '../../src/util/package-info.js';
import { loadApiDefs, nameCrc, type ApiDefsData } from '../../src/sinks/vpp/vpp-api-defs.js';
import { VppCodec, type VppMessage } from '../../src/sinks/vpp/vpp-codec.js';
import { FrameReader, frame } from '../../src/sinks/vpp/vpp-transport.js';
import { WAIT_MS, waitFor as waitUntil } from './wait-for.js';

/**
 * VPP's API definition files for the codec tests, first found of: $RTREFLECT_VPP_API_DIR,
 * the project's shared definitions (../shared/vpp-api beside the checkout), an
 * installed VPP's share/vpp/api. They are VPP's, so they are read, not copied here.
 */
function findApiDir(): string | undefined {
  const candidates = [process.env.RTREFLECT_VPP_API_DIR, resolve(packageRoot(), '..', 'shared', 'vpp-api'), '/opt/vpp/share/vpp/api', '/usr/share/vpp/api'];
  return candidates.find((d): d is string => !!d && existsSync(join(d, 'core', 'ip.api.json')));
}

export const FIXTURE_API_DIR = findApiDir();

/** Tests that need the definitions skip, saying why, where none are present. */
export const vppDefsSkip: string | false = FIXTURE_API_DIR
  ? false
  : 'no VPP API definitions found (set RTREFLECT_VPP_API_DIR, or install VPP); VPP codec tests skipped';

let cachedDefs: ApiDefsData | undefined;
export function fixtureDefs(): ApiDefsData {
  if (!FIXTURE_API_DIR) throw new Error(vppDefsSkip as string);
  cachedDefs ??= loadApiDefs(FIXTURE_API_DIR);
  return cachedDefs;
}

/** `test`, skipped with the reason when VPP's definitions are absent. */
export function vppTest(name: string, fn: () => unknown): void {
  test(name, { skip: vppDefsSkip }, fn as () => Promise<void>);
}

// ---------------------------------------------------------------------------
// A scripted peer speaking VPP's socket protocol, for unit tests of framing,
// handshake, version checks and malformed replies (things a real VPP will not
// produce on demand).

export interface FakeVppOptions {
  /** Message name → CRC to advertise instead of the definition's (version mismatch tests). */
  crcOverride?: Record<string, string>;
  /** Messages not to advertise at all. */
  omit?: string[];
  /** Answers a decoded request; return replies (name + fields), or a raw Buffer payload, or nothing. */
  handle?: (name: string, req: VppMessage, peer: FakePeer) => void;
}

export interface FakePeer {
  reply(name: string, fields: VppMessage): void;
  raw(payload: Buffer): void;
  rawBytes(bytes: Buffer): void;
  close(): void;
  ids: Map<string, number>;
}

export class FakeVpp {
  readonly dir = mkdtempSync(join(tmpdir(), 'rtr-fakevpp-'));
  readonly path = join(this.dir, 'api.sock');
  readonly codec: VppCodec;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  readonly ids = new Map<string, number>();
  readonly names = new Map<number, string>();
  readonly received: { name: string; msg: VppMessage }[] = [];
  connections = 0;

  constructor(
    private readonly opts: FakeVppOptions = {},
    defs: ApiDefsData = fixtureDefs(),
  ) {
    this.codec = new VppCodec(defs);
    let id = 20;
    for (const name of [...defs.messages.keys()].sort()) {
      if (name === 'sockclnt_create') {
        this.ids.set(name, 15);
        continue;
      }
      if (name === 'sockclnt_create_reply') {
        this.ids.set(name, 16);
        continue;
      }
      this.ids.set(name, id++);
    }
    for (const [n, i] of this.ids) this.names.set(i, n);
  }

  listen(): Promise<void> {
    this.server = createServer((s) => this.onConn(s));
    return new Promise((r) => this.server!.listen(this.path, r));
  }

  private onConn(s: Socket): void {
    this.connections++;
    this.sockets.add(s);
    s.on('close', () => this.sockets.delete(s));
    s.on('error', () => undefined);
    const reader = new FrameReader();
    const peer: FakePeer = {
      reply: (name, fields) => {
        if (!s.destroyed) s.write(frame(this.codec.encode(name, { ...fields, _vl_msg_id: this.ids.get(name)! })));
      },
      raw: (payload) => {
        if (!s.destroyed) s.write(frame(payload));
      },
      rawBytes: (bytes) => {
        if (!s.destroyed) s.write(bytes);
      },
      close: () => s.destroy(),
      ids: this.ids,
    };
    s.on('data', (chunk) => {
      for (const p of reader.push(chunk)) {
        const name = this.names.get(p.readUInt16BE(0));
        if (!name) continue;
        const msg = this.codec.decode(name, p);
        this.received.push({ name, msg });
        if (name === 'sockclnt_create') {
          const table = [...this.ids]
            .filter(([n]) => !this.opts.omit?.includes(n))
            .map(([n, index]) => ({ index, name: nameCrc(n, this.opts.crcOverride?.[n] ?? this.codec.defs.messages.get(n)!.crc) }));
          peer.reply('sockclnt_create_reply', { client_index: 0, context: msg.context, response: 0, index: 7, message_table: table });
          continue;
        }
        if (name === 'control_ping') {
          peer.reply('control_ping_reply', { context: msg.context, retval: 0, client_index: 7, vpe_pid: 1 });
          continue;
        }
        this.opts.handle?.(name, msg, peer);
      }
    });
  }

  /** Drops every client connection (like a VPP restart). */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.dropAll();
    try {
      // A client that reconnects at this instant would hold server.close() open: do not wait for ever.
      await Promise.race([closed, new Promise((r) => setTimeout(r, 1000).unref())]);
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

// ---------------------------------------------------------------------------
// A real VPP, in a network namespace of the test's own, for live tests and the bench.

export function findVppBinary(): string | undefined {
  const env = process.env.RTREFLECT_VPP_BIN;
  if (env) return existsSync(env) ? env : undefined;
  if (existsSync('/opt/vpp/bin/vpp')) return '/opt/vpp/bin/vpp';
  const r = spawnSync('sh', ['-c', 'command -v vpp'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

export const NO_VPP_MESSAGE = 'no VPP binary found (set RTREFLECT_VPP_BIN or install to /opt/vpp); live VPP tests skipped';

/** The install's prefix: <prefix>/bin/vpp. */
function vppPrefix(bin: string): string {
  return resolve(dirname(bin), '..');
}

function findUnder(root: string, pred: (p: string) => boolean, depth = 4): string | undefined {
  if (depth < 0 || !existsSync(root)) return undefined;
  for (const e of readdirSync(root)) {
    const p = join(root, e);
    if (pred(p)) return p;
    if (statSync(p).isDirectory()) {
      const f = findUnder(p, pred, depth - 1);
      if (f) return f;
    }
  }
  return undefined;
}

export function vppApiDir(bin: string): string {
  const p = join(vppPrefix(bin), 'share/vpp/api');
  return existsSync(p) ? p : '/usr/share/vpp/api';
}

export function vppPluginDir(bin: string): string | undefined {
  return findUnder(join(vppPrefix(bin), 'lib'), (p) => p.endsWith('/vpp_plugins') && statSync(p).isDirectory());
}

export interface LiveVpp {
  ns: string;
  dir: string;
  apiSock: string;
  cliSock: string;
  apiDir: string;
  pid: number;
  bin: string;
  /** Runs a vppctl command against this VPP. */
  cli(cmd: string): string;
  /** Why VPP is no longer running (exit status and the end of its stderr), or undefined while it runs. */
  exitReason(): string | undefined;
  /** Kills VPP (SIGKILL by PID) and starts it again with the same config. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  await waitUntil(cond, { describe: what, timeoutMs: ms });
}

/**
 * Starts VPP inside a new namespace `rtr-vpp-<purpose>-<random>` with an af_packet
 * interface on a veth whose peer (10.99.0.1/24, 2001:db8:99::1/64) is in the same namespace.
 * VPP's side is host-vpp0 with 10.99.0.2/24 and 2001:db8:99::2/64.
 */
export interface LiveVppOptions {
  mainHeap?: string;
  /**
   * Stats segment size (default 32M). Every FIB entry has counters there: a full
   * table needs far more, and VPP dies when the segment runs out (about 570k
   * routes at 32M).
   */
  statsegSize?: string;
  /** More plugins to enable (file names, e.g. "linux_nl_plugin.so"). */
  plugins?: string[];
}

export async function startLiveVpp(bin: string, purpose: string, opts: LiveVppOptions = {}): Promise<LiveVpp> {
  const tag = `${purpose}-${Math.random().toString(36).slice(2, 8)}`;
  const ns = `rtr-vpp-${tag}`;
  const dir = mkdtempSync(join(tmpdir(), `rtr-vpp-${tag}-`));
  const apiSock = join(dir, 'api.sock');
  const cliSock = join(dir, 'cli.sock');
  const pluginDir = vppPluginDir(bin);
  const extraPlugins = (opts.plugins ?? []).map((p) => `plugin ${p} { enable }`).join(' ');
  const conf = `unix { nodaemon cli-listen ${cliSock} runtime-dir ${dir} log ${dir}/vpp.log }
socksvr { socket-name ${apiSock} }
api-segment { prefix rtr${tag.replace(/[^a-z0-9]/g, '')} }
statseg { socket-name ${dir}/stats.sock size ${opts.statsegSize ?? '32M'} page-size 4k }
memory { main-heap-size ${opts.mainHeap ?? '1G'} main-heap-page-size 4k }
buffers { buffers-per-numa 16384 page-size 4k }
cpu { main-core 0 }
plugins { ${pluginDir ? `path ${pluginDir}` : ''} plugin default { disable } plugin af_packet_plugin.so { enable } plugin linux_cp_plugin.so { enable } plugin ping_plugin.so { enable } ${extraPlugins} }
`;
  writeFileSync(join(dir, 'startup.conf'), conf);
  sh('ip', ['netns', 'add', ns]);
  let proc: ChildProcess | undefined;
  let stderr = '';
  const vpp: LiveVpp = {
    ns,
    dir,
    apiSock,
    cliSock,
    bin,
    apiDir: vppApiDir(bin),
    pid: 0,
    cli: (cmd) => sh('ip', ['netns', 'exec', ns, join(dirname(bin), 'vppctl'), '-s', cliSock, ...cmd.split(' ')]),
    exitReason: () => {
      if (!proc || (proc.exitCode === null && proc.signalCode === null)) return undefined;
      return `VPP exited (${proc.exitCode ?? proc.signalCode}); stderr: ${stderr.slice(-1500) || '(empty)'}`;
    },
    restart: async () => {
      await killVpp();
      await launch();
    },
    stop: async () => {
      try {
        await killVpp();
      } finally {
        spawnSync('ip', ['netns', 'del', ns]);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  async function killVpp(): Promise<void> {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    process.kill(p.pid!, 'SIGKILL');
    await exited;
    rmSync(apiSock, { force: true });
    rmSync(cliSock, { force: true });
  }
  async function launch(): Promise<void> {
    proc = spawn('ip', ['netns', 'exec', ns, bin, '-c', join(dir, 'startup.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    stderr = '';
    proc.stderr!.on('data', (d) => {
      stderr = (stderr + String(d)).slice(-4000);
    });
    // `ip netns exec` execs vpp: the PID is VPP's.
    vpp.pid = proc.pid!;
    try {
      await waitFor(() => (existsSync(apiSock) && existsSync(cliSock)) || proc!.exitCode !== null, WAIT_MS, 'VPP sockets');
      if (proc.exitCode !== null) throw new Error(`VPP exited with ${proc.exitCode}: ${stderr}`);
      await waitFor(
        () => {
          try {
            vpp.cli('show version');
            return true;
          } catch {
            return false;
          }
        },
        WAIT_MS,
        'VPP CLI',
      );
      vpp.cli('create host-interface name vpp0');
      vpp.cli('set interface state host-vpp0 up');
      vpp.cli('set interface ip address host-vpp0 10.99.0.2/24');
      vpp.cli('set interface ip address host-vpp0 2001:db8:99::2/64');
    } catch (err) {
      throw new Error(`${(err as Error).message}; VPP stderr: ${stderr}`);
    }
  }
  try {
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    sh('ip', ['-n', ns, 'link', 'add', 'vpp0', 'type', 'veth', 'peer', 'name', 'host0']);
    sh('ip', ['-n', ns, 'link', 'set', 'vpp0', 'up']);
    sh('ip', ['-n', ns, 'link', 'set', 'host0', 'up']);
    sh('ip', ['-n', ns, 'addr', 'add', '10.99.0.1/24', 'dev', 'host0']);
    sh('ip', ['-n', ns, '-6', 'addr', 'add', '2001:db8:99::1/64', 'dev', 'host0', 'nodad']);
    await launch();
  } catch (err) {
    await vpp.stop();
    throw err;
  }
  return vpp;
}

/** A route as VPP's own ip_route_v2_dump reports it (any FIB source), paths sorted by next hop. */
export interface FibRoute {
  src: number;
  paths: { nh: string; sw: number; weight: number; type: number }[];
}

/** VPP's FIB for one table through an API client: prefix → route. An absent table is empty. */
export async function vppFib(client: VppClient, table: number, ip6: boolean): Promise<Map<string, FibRoute>> {
  const out = new Map<string, FibRoute>();
  const tables = await client.dump('ip_table_dump');
  if (!tables.some((t) => (t.table as { table_id: number; is_ip6: boolean }).table_id === table && (t.table as { is_ip6: boolean }).is_ip6 === ip6)) return out;
  for (const d of await client.dump('ip_route_v2_dump', { src: 0, table: { table_id: table, is_ip6: ip6, name: '' } })) {
    const r = d.route as VppMessage;
    const pfx = r.prefix as { address: { af: number; un: { ip4: Uint8Array; ip6: Uint8Array } }; len: number };
    const p = `${bytesToAddr(pfx.address.af ? pfx.address.un.ip6 : pfx.address.un.ip4)}/${pfx.len}`;
    out.set(p, {
      src: r.src as number,
      paths: (r.paths as VppMessage[])
        .map((x) => {
          const a = (x.nh as { address: { ip4: Uint8Array; ip6: Uint8Array } }).address;
          return { nh: bytesToAddr(x.proto ? a.ip6 : a.ip4), sw: x.sw_if_index as number, weight: x.weight as number, type: x.type as number };
        })
        .sort((a, b) => (a.nh < b.nh ? -1 : a.nh > b.nh ? 1 : 0)),
    });
  }
  return out;
}
