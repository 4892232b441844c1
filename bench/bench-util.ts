/**
 * Shared pieces of the benchmarks: argument parsing, result tables, RSS, percentiles,
 * the rtreflect command line (compiled or under tsx), and a gRPC client for the few
 * gobgpd calls the benches need beyond GobgpClient (GetTable, WatchEvent, a bare ListPath).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { GobgpClient, loadGobgpService } from '../src/sinks/gobgp/gobgp-api.js';
import { packageRoot } from '../src/util/package-info.js';

/** `--name N` from argv (integers; `1e6` and `1_000_000` accepted), else def. */
export function intArg(argv: string[], name: string, def: number): number {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(String(argv[i + 1]).replace(/_/g, ''));
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} needs a non-negative integer, got "${argv[i + 1]}"`);
  return v;
}

export function strArg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i < 0 ? undefined : argv[i + 1];
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** The median of the finite values (a figure a run could not measure is NaN); NaN when there is none. */
export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** CPU time (user + system, ms) a process has used so far; NaN once it is gone. */
export function cpuMsOf(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces and parentheses): utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;

/** VmRSS of a process in bytes (0 when it is gone). */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export interface Row {
  metric: string;
  value: string;
  target?: string;
  verdict?: string;
}

/** Prints rows as an aligned table. */
export function printTable(title: string, rows: Row[]): void {
  const head: Row = { metric: 'metric', value: 'value', target: 'target', verdict: '' };
  const all = [head, ...rows];
  const w = (k: keyof Row) => Math.max(...all.map((r) => (r[k] ?? '').length));
  const [a, b, c] = [w('metric'), w('value'), w('target')];
  console.log(`\n== ${title}`);
  for (const r of all) {
    console.log(`${r.metric.padEnd(a)}  ${r.value.padStart(b)}  ${(r.target ?? '').padEnd(c)}  ${r.verdict ?? ''}`.trimEnd());
  }
}

export const verdict = (ok: boolean): string => (ok ? 'ok' : 'MISSED');
export const fmtMs = (ms: number): string => `${ms.toFixed(ms < 10 ? 2 : 0)} ms`;
export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en');

/** Whether this module runs as compiled JS (dist/bench) or as TypeScript under tsx. */
export function runningCompiled(): boolean {
  return fileURLToPath(import.meta.url).endsWith('.js');
}

/**
 * argv to start the rtreflect CLI the same way this bench runs (compiled, else under tsx).
 * RTR_BENCH_NODE_ARGS adds node options, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it.
 * RTR_BENCH_RTREFLECT_ROOT runs the compiled daemon of another checkout under this bench's
 * measurements (bench/compare.ts builds an older commit there to measure it side by side).
 */
export function rtreflectCommand(args: string[]): string[] {
  const other = process.env.RTR_BENCH_RTREFLECT_ROOT;
  const root = other ?? packageRoot();
  const extra = (process.env.RTR_BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  return other || runningCompiled()
    ? [process.execPath, ...extra, join(root, 'dist/src/cli/main.js'), ...args]
    : [process.execPath, ...extra, '--import', 'tsx', join(root, 'src/cli/main.ts'), ...args];
}

/** Raw access to gobgpd's API for measurements. */
export class GobgpProbe {
  private readonly c: grpc.Client & Record<string, any>;
  constructor(private readonly address: string) {
    const Ctor = loadGobgpService();
    this.c = new Ctor(address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * 1024 * 1024 }) as grpc.Client & Record<string, any>;
  }

  /**
   * gobgpd serving its whole global RIB of a family over ListPath (binary fields, as rtreflect
   * asks for them), nothing decoded here: what a read of the sink costs at the least.
   * Resolves with the number of destinations.
   */
  async bareListPath(family: 4 | 6): Promise<number> {
    let n = 0;
    const client = new GobgpClient(this.address);
    try {
      await client.listPathMessages(family, {}, () => {
        n++;
      });
    } finally {
      client.close();
    }
    return n;
  }

  /** Number of paths in the global RIB of a family (gobgpd walks the table for it: see expectPaths). */
  paths(family: 4 | 6): Promise<number> {
    return new Promise((resolve, reject) => {
      this.c.GetTable(
        { table_type: 'GLOBAL', family: { afi: family === 4 ? 'AFI_IP' : 'AFI_IP6', safi: 'SAFI_UNICAST' } },
        { deadline: Date.now() + 30_000 },
        (err: Error | null, r: { num_path?: number | string }) => (err ? reject(err) : resolve(Number(r?.num_path ?? 0))),
      );
    });
  }

  async totalPaths(): Promise<number> {
    return (await this.paths(4)) + (await this.paths(6));
  }

  /**
   * Throws unless the global RIB holds exactly `n` paths. One count, not a loop: gobgpd counts a
   * table by walking all of it inside its main loop (GetTable → Table.Info), ~0.5 s at a full
   * table, stalling any ingestion it would be timing.
   */
  async expectPaths(n: number, what: string): Promise<void> {
    const held = await this.totalPaths();
    if (held !== n) throw new Error(`${what}: gobgpd holds ${held} paths, expected ${n}`);
  }

  /**
   * Best-path events: calls onPrefix with "a.b.c.d/len" of every path in each table event.
   * Returns a function that cancels the watch.
   */
  watchBest(onPrefix: (prefix: string, withdrawal: boolean) => void): () => void {
    const call = this.c.WatchEvent({ table: { filters: [{ type: 'BEST', init: false }] } }) as grpc.ClientReadableStream<any>;
    call.on('data', (ev: { table?: { paths?: { nlri?: { type_url?: string; value?: Buffer }; is_withdraw?: boolean }[] } }) => {
      for (const p of ev.table?.paths ?? []) {
        if (p.nlri?.value) onPrefix(decodeIpAddressPrefix(p.nlri.value), !!p.is_withdraw);
      }
    });
    call.on('error', () => {
      /* cancelled */
    });
    return () => call.cancel();
  }

  close(): void {
    this.c.close();
  }
}

/** apipb.IPAddressPrefix: prefix_len = 1 (varint), prefix = 2 (string). */
function decodeIpAddressPrefix(b: Buffer): string {
  let len = 0,
    text = '';
  for (let i = 0; i < b.length;) {
    const tag = b[i++]!;
    let v = 0,
      shift = 0,
      x: number;
    do {
      x = b[i++]!;
      v |= (x & 0x7f) << shift;
      shift += 7;
    } while (x & 0x80);
    if (tag === 0x08) len = v;
    else if ((tag & 7) === 2) {
      if (tag >> 3 === 2) text = b.toString('latin1', i, i + v);
      i += v;
    }
  }
  return `${text}/${len}`;
}
