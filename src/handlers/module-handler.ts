/**
 * Loading an operator's handler module: a file path (relative to the config
 * file's directory) or a package name (resolved from that directory first,
 * then from rtreflect's own). The module must export `apiVersion` and
 * `create(options, context)`, and may export `optionsSchema` (named exports,
 * or the same on a default export).
 */
import { access, constants } from 'node:fs/promises';
import { createRequire, register } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HANDLER_API_VERSION, type HandlerModule, type OptionsIssue } from './api.js';

export interface LoadedModule {
  module: HandlerModule;
  /** File path or package name it was loaded from, for messages and status. */
  resolved: string;
}

function isPathSpecifier(spec: string): boolean {
  return spec.startsWith('./') || spec.startsWith('../') || spec === '.' || isAbsolute(spec) || spec.startsWith('file:');
}

let importsRtreflect = false;

/** From now on, `import ... from 'rtreflect'` in any module resolves to this rtreflect (see rtreflect-resolve-hook.ts). */
function letModulesImportRtreflect(): void {
  if (importsRtreflect) return;
  importsRtreflect = true;
  register(new URL('./rtreflect-resolve-hook.js', import.meta.url), { data: { url: new URL('../index.js', import.meta.url).href } });
}

/** Throws an Error whose message names the module, what is wrong and the fix. */
export async function loadHandlerModule(spec: string, baseDir: string): Promise<LoadedModule> {
  letModulesImportRtreflect();
  let url: string, resolved: string;
  if (isPathSpecifier(spec)) {
    resolved = spec.startsWith('file:') ? new URL(spec).pathname : resolve(baseDir, spec);
    try {
      await access(resolved, constants.R_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(
        `cannot load module "${spec}": ${resolved} ${code === 'ENOENT' ? 'does not exist' : `is not readable (${code})`}` +
          (isAbsolute(spec) ? '' : ` (relative paths are relative to the config file's directory, ${baseDir})`),
      );
    }
    url = pathToFileURL(resolved).href;
  } else {
    resolved = spec;
    url = spec;
    try {
      // Prefer a package installed next to the config (e.g. /etc/rtreflect/node_modules).
      url = pathToFileURL(createRequire(join(baseDir, 'rtreflect.config.js')).resolve(spec)).href;
    } catch {
      /* fall back to rtreflect's own resolution below */
    }
  }
  let ns: Record<string, unknown>;
  try {
    ns = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_MODULE_NOT_FOUND' && !isPathSpecifier(spec) && err.message.includes(`'${spec}'`)) {
      throw new Error(
        `cannot load module "${spec}": no such package next to the config (${baseDir}) or in rtreflect's node_modules; install it there, or give a file path starting with ./ or /`,
      );
    }
    if (err.code === 'ERR_UNKNOWN_FILE_EXTENSION') {
      throw new Error(`cannot load module "${spec}" (${resolved}): Node cannot run this file type directly; compile TypeScript to .js/.mjs first`);
    }
    throw new Error(`cannot load module "${spec}" (${resolved}): ${err.message ?? String(e)}`);
  }
  const cand = typeof ns.create === 'function' ? ns : (ns.default as Record<string, unknown> | undefined);
  if (!cand || typeof cand.create !== 'function') {
    throw new Error(
      `module "${spec}" (${resolved}) does not export create(options, context); a handler module exports apiVersion = ${HANDLER_API_VERSION} and create()`,
    );
  }
  const v = cand.apiVersion;
  if (v === undefined) {
    throw new Error(
      `module "${spec}" (${resolved}) does not export apiVersion; add \`export const apiVersion = ${HANDLER_API_VERSION};\` once it follows handler API version ${HANDLER_API_VERSION}`,
    );
  }
  if (v !== HANDLER_API_VERSION) {
    throw new Error(
      `module "${spec}" (${resolved}) was written for handler API version ${String(v)}, but this rtreflect provides version ${HANDLER_API_VERSION}; use a version of the module made for API ${HANDLER_API_VERSION}`,
    );
  }
  const schema = cand.optionsSchema as { safeParse?: unknown } | undefined;
  if (schema !== undefined && typeof schema?.safeParse !== 'function') {
    throw new Error(
      `module "${spec}" (${resolved}) exports optionsSchema without a safeParse(options) function; export a zod schema (or anything with safeParse), or leave it out`,
    );
  }
  return { module: cand as unknown as HandlerModule, resolved };
}

/** The module's options through its optionsSchema, when it exports one; otherwise as given. */
export function parseModuleOptions(
  module: HandlerModule,
  options: Record<string, unknown>,
): { ok: true; options: Record<string, unknown> } | { ok: false; issues: readonly OptionsIssue[] } {
  if (!module.optionsSchema) return { ok: true, options };
  const r = module.optionsSchema.safeParse(options);
  return r.success ? { ok: true, options: r.data } : { ok: false, issues: r.error.issues };
}
