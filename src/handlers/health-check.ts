/**
 * One probe of a health check: TCP connect, HTTP(S) status, or a command's exit
 * status. A probe never rejects: it resolves to ok or not, with a short detail
 * for `rtreflect status`. Aborting the signal ends it at once (as a failure).
 */
import { connect } from 'node:net';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { execFile, type ExecFileException, type ExecFileOptionsWithStringEncoding } from 'node:child_process';
import { z } from 'zod';
import { identifier, int, nonEmpty, obj, port, tagged } from '../config/schema-helpers.js';

export type CheckSpec =
  | { type: 'tcp'; name?: string; host: string; port: number }
  | { type: 'http'; name?: string; url: string; expectStatus: number[]; tlsInsecure: boolean }
  | { type: 'exec'; name?: string; command: string[] };

export interface CheckResult {
  ok: boolean;
  detail: string;
}

export const checkSchema = () =>
  tagged(
    'type',
    {
      tcp: obj({ type: z.literal('tcp'), name: identifier().optional(), host: nonEmpty(), port: port() }),
      http: obj({
        type: z.literal('http'),
        name: identifier().optional(),
        url: z
          .string()
          .url()
          .refine((u) => /^https?:$/.test(new URL(u).protocol), 'must be an http:// or https:// URL'),
        expectStatus: z.array(int(100, 599)).min(1).default([200]),
        tlsInsecure: z.boolean().default(false),
      }),
      exec: obj({ type: z.literal('exec'), name: identifier().optional(), command: z.array(nonEmpty()).min(1) }),
    },
    'check',
  ) as z.ZodType<CheckSpec, z.ZodTypeDef, unknown>;

/** Default check name for status and logs. */
export function checkLabel(c: CheckSpec): string {
  if (c.name) return c.name;
  switch (c.type) {
    case 'tcp':
      return `tcp ${c.host.includes(':') ? `[${c.host}]` : c.host}:${c.port}`;
    case 'http':
      return `http ${c.url}`;
    case 'exec':
      return `exec ${c.command.join(' ')}`;
  }
}

function errDetail(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err?.code ? `${err.code}${err.message && !err.message.includes(err.code) ? `: ${err.message}` : ''}` : String(err?.message ?? e);
}

export function runCheck(spec: CheckSpec, timeoutMs: number, signal: AbortSignal): Promise<CheckResult> {
  switch (spec.type) {
    case 'tcp':
      return tcpCheck(spec, timeoutMs, signal);
    case 'http':
      return httpCheck(spec, timeoutMs, signal);
    case 'exec':
      return execCheck(spec, timeoutMs, signal);
  }
}

/** Settles once; clears the timeout and abort listener. */
function settleOnce(signal: AbortSignal, timeoutMs: number, onEnd: (r: CheckResult) => void, cleanup: () => void) {
  let done = false;
  const finish = (r: CheckResult) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    cleanup();
    onEnd(r);
  };
  const timer = setTimeout(() => finish({ ok: false, detail: `timed out after ${timeoutMs} ms` }), timeoutMs);
  const onAbort = () => finish({ ok: false, detail: 'stopped' });
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort();
  return finish;
}

function tcpCheck(spec: Extract<CheckSpec, { type: 'tcp' }>, timeoutMs: number, signal: AbortSignal): Promise<CheckResult> {
  return new Promise((resolve) => {
    const sock = connect({ host: spec.host, port: spec.port });
    const finish = settleOnce(signal, timeoutMs, resolve, () => sock.destroy());
    sock.once('connect', () => finish({ ok: true, detail: 'connected' }));
    sock.once('error', (e) => finish({ ok: false, detail: errDetail(e) }));
  });
}

function httpCheck(spec: Extract<CheckSpec, { type: 'http' }>, timeoutMs: number, signal: AbortSignal): Promise<CheckResult> {
  return new Promise((resolve) => {
    const url = new URL(spec.url);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    // A fresh connection per probe (agent: false): a check must see a dead server, not a pooled socket.
    const req = request(url, { method: 'GET', agent: false, rejectUnauthorized: !spec.tlsInsecure, headers: { 'user-agent': 'rtreflect-health-check' } });
    const finish = settleOnce(signal, timeoutMs, resolve, () => req.destroy());
    req.once('response', (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      finish(
        spec.expectStatus.includes(code)
          ? { ok: true, detail: `HTTP ${code}` }
          : { ok: false, detail: `HTTP ${code}, expected ${spec.expectStatus.join(' or ')}` },
      );
    });
    req.once('error', (e) => finish({ ok: false, detail: errDetail(e) }));
    req.end();
  });
}

function execCheck(spec: Extract<CheckSpec, { type: 'exec' }>, timeoutMs: number, signal: AbortSignal): Promise<CheckResult> {
  return new Promise((resolve) => {
    const [file, ...args] = spec.command as [string, ...string[]];
    // Own process group, so a timeout kills what the command started too (sh -c 'curl ...').
    const opts = { maxBuffer: 64 * 1024, windowsHide: true, detached: true, encoding: 'utf8' } as ExecFileOptionsWithStringEncoding;
    const child = execFile(file, args, opts, (err: ExecFileException | null, _stdout: string, stderr: string) => {
      if (!err) return finish({ ok: true, detail: 'exit 0' });
      const e = err as NodeJS.ErrnoException & { code?: unknown; signal?: string };
      const why = typeof e.code === 'number' ? `exit ${e.code}` : e.signal ? `killed by ${e.signal}` : errDetail(e);
      const msg = String(stderr).trim().split('\n')[0]?.slice(0, 200);
      finish({ ok: false, detail: msg ? `${why}: ${msg}` : why });
    });
    // On timeout or stop, SIGKILL: a check that ignores SIGTERM must not linger.
    const finish = settleOnce(signal, timeoutMs, resolve, () => {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    });
  });
}
