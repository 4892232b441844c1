import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { isErrorCode, RtreflectError } from '../util/errors.js';

/** Raw addon surface (native/rtnl.c). Only netlink-socket.ts should call it. */
export interface NativeRtnl {
  open(
    netns: string | null,
    groups: number[],
    receiveBufferBytes: number,
    strictCheck: boolean,
    maxBatchMessages: number,
    callback: (kind: number, arg: Buffer | number, text: string | undefined) => void,
  ): [handle: object, portId: number, receiveBufferBytes: number, forced: boolean];
  send(handle: object, msg: Buffer): void;
  setFilter(handle: object, protocols: number[] | null): void;
  close(handle: object): void;
  ref(handle: object): void;
  unref(handle: object): void;
  sdNotify(socketPath: string, message: string): void;
  /** glibc's malloc_trim(0): true when memory went back to the system. */
  mallocTrim(): boolean;
  /** V8's Isolate::LowMemoryNotification(): memory-reducing full collections, young generation shrunk. */
  lowMemoryNotification(): void;
}

export const NATIVE_KIND_DATA = 0;
export const NATIVE_KIND_OVERRUN = 1;
export const NATIVE_KIND_ERROR = 2;

let cached: NativeRtnl | undefined;

/**
 * Finds build/Release/rtnl.node walking up from this file, so it loads both
 * from src/ (tsx) and from dist/src/ (compiled).
 */
function findAddon(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'build', 'Release', 'rtnl.node');
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}

/** Loads the addon once; ERR_NATIVE_MISSING tells the operator how to build it. */
export function loadNative(): NativeRtnl {
  if (cached) return cached;
  const file = findAddon();
  if (!file) {
    throw new RtreflectError(
      'ERR_NATIVE_MISSING',
      'the native rtnetlink addon (build/Release/rtnl.node) is missing: run "npm run build:native" (needs build-essential and the Node headers)',
    );
  }
  try {
    cached = createRequire(import.meta.url)(file) as NativeRtnl;
  } catch (err) {
    throw new RtreflectError(
      'ERR_NATIVE_MISSING',
      `the native rtnetlink addon ${file} cannot be loaded (${(err as Error).message}): run "npm run build:native" to rebuild it for this Node version`,
      { cause: err },
    );
  }
  return cached;
}

/** Turns an error thrown by the addon (code + errno set in C) into a RtreflectError. */
export function fromNativeError(err: unknown): RtreflectError {
  if (err instanceof RtreflectError) return err;
  const e = err as { code?: unknown; message?: unknown; errno?: unknown };
  const code = isErrorCode(e?.code) ? e.code : 'ERR_NATIVE';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return new RtreflectError(code, message, { cause: err, details: typeof e?.errno === 'string' ? { errno: e.errno } : undefined });
}
