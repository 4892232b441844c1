/**
 * Reading the config file: YAML → schema → cross-checks. Every problem is
 * reported at once, with the file, line:column and key path, and what would be
 * valid; the result is fully defaulted.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isMap, isSeq, isScalar, LineCounter, parseDocument, Parser, type Document, type Node } from 'yaml';
import { RtreflectError } from '../util/errors.js';
import { ConfigError, formatIssue, formatPath, type ConfigIssue } from './config-errors.js';
import { buildConfigSchema, configWarnings, type RtreflectConfig } from './config-schema.js';
import { builtinNames, type NameResolver } from './name-resolver.js';
import { describeIssue, valueAt } from './schema-helpers.js';

export type { RtreflectConfig, SinkConfig } from './config-schema.js';
export type { NameResolver } from './name-resolver.js';
export { ConfigError, type ConfigIssue } from './config-errors.js';

export const DEFAULT_CONFIG_PATH = '/etc/rtreflect/rtreflect.yaml';

/** Line and column (1-based) of the key or item at `path`, or of the deepest part of it that exists. */
function locate(doc: Document, lc: LineCounter, path: readonly (string | number)[]): { line: number; column: number } | undefined {
  let node: unknown = doc.contents;
  let at: number | undefined = (node as Node | null)?.range?.[0];
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) break;
      at = (pair.key as Node | null)?.range?.[0] ?? at;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      at = item.range?.[0] ?? at;
      node = item;
    } else {
      break;
    }
  }
  if (at === undefined) return undefined;
  const p = lc.linePos(at);
  return { line: p.line, column: p.col };
}

/** Deeper than any config needs; far from the depth at which the YAML library runs out of stack. */
export const MAX_CONFIG_DEPTH = 64;

/**
 * Where the text first nests deeper than MAX_CONFIG_DEPTH, or undefined. Read from the
 * YAML library's token tree (built without recursion) before the document is composed
 * (recursively): a stack overflow there is reported as a syntax error, but once one
 * happened, the next deep file could abort the whole process (V8 fails compiling a
 * regular expression after it), and a reload must never do that.
 */
function tooDeepAt(text: string): { line: number; column: number } | undefined {
  type Tok = { offset?: number; value?: unknown; items?: { key?: unknown; value?: unknown }[] };
  const lc = new LineCounter();
  const stack: [Tok, number][] = [];
  for (const doc of new Parser(lc.addNewLine).parse(text)) {
    stack.push([doc as Tok, 0]);
    while (stack.length > 0) {
      const [t, depth] = stack.pop()!;
      if (depth > MAX_CONFIG_DEPTH) {
        const p = lc.linePos(t.offset ?? 0);
        return { line: p.line, column: p.col };
      }
      if (typeof t.value === 'object' && t.value !== null) stack.push([t.value as Tok, depth + 1]);
      for (const it of t.items ?? []) {
        if (typeof it.key === 'object' && it.key !== null) stack.push([it.key as Tok, depth + 1]);
        if (typeof it.value === 'object' && it.value !== null) stack.push([it.value as Tok, depth + 1]);
      }
    }
  }
  return undefined;
}

/**
 * Parses and validates config text. `origin` names it in messages (the file
 * path); relative handler module paths resolve from its directory. Throws a
 * ConfigError (code ERR_CONFIG) listing every issue, one per line.
 */
export function parseConfig(text: string, origin: string, names: NameResolver = builtinNames): RtreflectConfig {
  const lc = new LineCounter();
  const deep = tooDeepAt(text);
  if (deep)
    throw new ConfigError(origin, [{ path: '', message: `YAML nested deeper than ${MAX_CONFIG_DEPTH} levels; no rtreflect config needs that many`, ...deep }]);
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true, merge: true });
  if (doc.errors.length) {
    throw new ConfigError(
      origin,
      doc.errors.map((e): ConfigIssue => {
        const p = e.linePos?.[0];
        return {
          path: '',
          message: `YAML syntax: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
          ...(p ? { line: p.line, column: p.col } : {}),
        };
      }),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    throw new ConfigError(origin, [{ path: '', message: `YAML: ${(e as Error).message}` }]);
  }
  if (data === null || data === undefined) data = {};
  const r = buildConfigSchema(names).safeParse(data);
  if (!r.success) {
    const issues = r.error.issues.map((i): ConfigIssue => ({
      path: formatPath(i.path),
      message: describeIssue(i, valueAt(data, i.path)),
      ...locate(doc, lc, i.path),
    }));
    // File order: what an operator fixes top to bottom.
    issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    throw new ConfigError(origin, issues);
  }
  const cfg = r.data;
  const warnings = configWarnings(cfg).map(([path, message]) => {
    const segs = path
      .split(/\.|\[(\d+)\]/)
      .filter((s) => s !== undefined && s !== '')
      .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    return formatIssue(origin, { path, message, ...locate(doc, lc, segs) });
  });
  return { ...cfg, origin, baseDir: dirname(resolve(origin)), warnings };
}

/** Reads and validates the config file at `path`. A missing or unreadable file is an ERR_CONFIG naming the path. */
export async function loadConfig(path: string, names: NameResolver = builtinNames): Promise<RtreflectConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'does not exist; create it (see examples/rtreflect.yaml) or pass --config <file>'
        : code === 'EACCES'
          ? 'is not readable by this user; check its permissions'
          : code === 'EISDIR'
            ? 'is a directory; give the path of the YAML file'
            : `cannot be read (${code ?? (e as Error).message})`;
    throw new RtreflectError('ERR_CONFIG', `config file ${path} ${why}`, { cause: e });
  }
  return parseConfig(text, path, names);
}
