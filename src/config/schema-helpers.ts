/**
 * Zod building blocks shared by the config schema and the built-in handlers'
 * option schemas. Every issue they raise is a sentence an operator can act on:
 * the valid choices, the value that was given, and a "did you mean" when a
 * name is close to a valid one.
 */
import { z, type ZodTypeAny, type ZodTypeDef } from 'zod';
import { isIP } from 'node:net';
import { canonicalAddr, familyOf, formatPrefix, parsePrefix, type Family } from '../util/ip.js';
import type { NameResolver } from './name-resolver.js';

/** Levenshtein distance (small strings only: config keys and names). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate when it is close enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined,
    bestD = Infinity;
  const w = word.toLowerCase();
  for (const c of candidates) {
    const d = c.toLowerCase() === w ? 0 : editDistance(w, c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

export function didYouMean(word: string, candidates: readonly string[]): string {
  const c = closest(word, candidates);
  return c === undefined ? '' : `; did you mean "${c}"?`;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'nothing (null)';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
}

const TYPE_WORDS: Record<string, string> = {
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  array: 'a list',
  integer: 'a whole number',
  bigint: 'a whole number',
};

/** Value found at `path` inside `root` (undefined when absent). */
export function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let cur = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

/** One zod issue as an operator-facing sentence; `value` is the offending value. */
export function describeIssue(issue: z.ZodIssue, value: unknown): string {
  const got = `got ${describeValue(value)}`;
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return `required: expected ${TYPE_WORDS[issue.expected] ?? issue.expected}`;
      return `expected ${TYPE_WORDS[issue.expected] ?? issue.expected}, ${got}`;
    case 'invalid_literal':
      return `expected ${JSON.stringify(issue.expected)}, ${got}`;
    case 'invalid_enum_value': {
      const opts = issue.options.map(String);
      return `expected one of ${opts.map((o) => JSON.stringify(o)).join(', ')}, ${got}${typeof value === 'string' ? didYouMean(value, opts) : ''}`;
    }
    case 'unrecognized_keys':
      return `unknown key(s) ${issue.keys.join(', ')}`;
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.type === 'string') return min <= 1 ? 'must not be empty' : `must be at least ${min} characters long`;
      if (issue.type === 'array') return `must have at least ${min} item${min === 1 ? '' : 's'}`;
      return `must be ${issue.inclusive ? 'at least' : 'greater than'} ${min}, ${got}`;
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.type === 'string') return `must be at most ${max} characters long`;
      if (issue.type === 'array') return `must have at most ${max} item${max === 1 ? '' : 's'}`;
      return `must be ${issue.inclusive ? 'at most' : 'less than'} ${max}, ${got}`;
    }
    case 'not_multiple_of':
      return `must be a multiple of ${issue.multipleOf}, ${got}`;
    case 'invalid_string':
      return `${issue.message}, ${got}`;
    default:
      return issue.message;
  }
}

/**
 * A strict object: unknown keys are reported (with a "did you mean") together
 * with every other issue of the object, not instead of them. A null value (an
 * empty YAML section) counts as an empty mapping.
 */
export function obj<S extends z.ZodRawShape>(shape: S) {
  const keys = Object.keys(shape);
  return z.preprocess((v, ctx) => {
    if (v === null) return {};
    if (!isPlainObject(v)) return v;
    let out: Record<string, unknown> | undefined;
    for (const k of Object.keys(v)) {
      if (keys.includes(k)) continue;
      const hint = didYouMean(k, keys);
      ctx.addIssue({ code: 'custom', path: [k], message: `unknown key${hint || `; valid keys here: ${keys.join(', ')}`}` });
      out ??= { ...v };
      delete out[k];
    }
    return out ?? v;
  }, z.object(shape));
}

/** Parse `v` with `schema`, re-raising its issues (already described) on `ctx` relative to the current path. */
export function subParse<T extends ZodTypeAny>(schema: T, v: unknown, ctx: z.RefinementCtx): z.output<T> {
  const r = schema.safeParse(v);
  if (r.success) return r.data;
  for (const issue of r.error.issues) {
    ctx.addIssue({ code: 'custom', path: issue.path, message: describeIssue(issue, valueAt(v, issue.path)) });
  }
  return z.NEVER;
}

/** A mapping whose `key` field picks its schema, e.g. `{ type: gobgp, ... }`. */
export function tagged<M extends Record<string, ZodTypeAny>>(
  key: string,
  variants: M,
  what: string,
  defaultTag?: keyof M & string,
): ZodType<z.output<M[keyof M]>> {
  const names = Object.keys(variants);
  return z.unknown().transform((v, ctx) => {
    if (!isPlainObject(v)) {
      ctx.addIssue({ code: 'custom', message: `expected a mapping with "${key}: <${names.join('|')}>", got ${describeValue(v)}` });
      return z.NEVER;
    }
    const tag = v[key] ?? defaultTag;
    if (typeof tag !== 'string' || !Object.hasOwn(variants, tag)) {
      const msg =
        tag === undefined
          ? `required: the ${what} type, one of ${names.join(', ')}`
          : `unknown ${what} type ${describeValue(tag)}; expected one of ${names.join(', ')}${typeof tag === 'string' ? didYouMean(tag, names) : ''}`;
      ctx.addIssue({ code: 'custom', path: [key], message: msg });
      return z.NEVER;
    }
    return subParse(variants[tag]!, v[key] === undefined ? { ...v, [key]: tag } : v, ctx);
  });
}
type ZodType<O> = z.ZodType<O, ZodTypeDef, unknown>;

// ---- scalars -------------------------------------------------------------

export const int = (min: number, max: number) => z.number().int().min(min).max(max);
export const u32 = () => int(0, 0xffffffff);
export const u16 = () => int(0, 0xffff);
export const port = () => int(1, 65535);
/** Milliseconds, up to what setTimeout accepts (~24.8 days). */
export const ms = () => int(0, 0x7fffffff);
export const nonEmpty = () => z.string().min(1);

/** 4 or 6. */
export const family = () =>
  z.unknown().transform((v, ctx): Family => {
    if (v === 4 || v === 6) return v;
    if (v === '4' || v === '6' || v === 'ipv4' || v === 'ipv6') return (v.endsWith('4') ? 4 : 6) as Family;
    ctx.addIssue({ code: 'custom', message: `expected 4 or 6, got ${describeValue(v)}` });
    return z.NEVER;
  });

export const families = () =>
  z
    .array(family())
    .min(1)
    .transform((fs) => [...new Set(fs)].sort() as Family[]);

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** An IP address, returned in canonical text. */
export const address = () =>
  z.string().transform((v, ctx) => {
    try {
      return canonicalAddr(v.trim());
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: errText(e) });
      return z.NEVER;
    }
  });

/** An IP address or "self" (the BGP speaker's own address). */
export const addressOrSelf = () =>
  z.string().transform((v, ctx) => {
    if (v === 'self') return v;
    try {
      return canonicalAddr(v.trim());
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: `${errText(e)}; expected an IPv4 or IPv6 address or "self"` });
      return z.NEVER;
    }
  });

/** A prefix with host bits clear ("10.0.0.0/8"), returned in canonical text. A bare address is a host prefix. */
export const prefix = () =>
  z.string().transform((v, ctx) => {
    try {
      return formatPrefix(parsePrefix(v.trim()));
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: errText(e) });
      return z.NEVER;
    }
  });

export { familyOf };

function nameRef(kind: 'protocol' | 'table', names: NameResolver) {
  return z.unknown().transform((v, ctx) => {
    if ((typeof v !== 'number' || !Number.isInteger(v) || v < 0) && typeof v !== 'string') {
      ctx.addIssue({ code: 'custom', message: `expected a ${kind} name or number, got ${describeValue(v)}` });
      return z.NEVER;
    }
    try {
      return names[kind](String(v));
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: errText(e) });
      return z.NEVER;
    }
  });
}
/** A protocol given by name ("bird") or number (12), resolved to its number. */
export const protocolRef = (names: NameResolver) => nameRef('protocol', names);
/** A routing table given by name ("main") or number (254), resolved to its number. */
export const tableRef = (names: NameResolver) => nameRef('table', names);

/** A mapping whose keys are table names or numbers; returned keyed by table number. */
export function tableKeyedRecord<V extends ZodTypeAny>(names: NameResolver, value: V) {
  return z.record(z.string(), value).transform((rec, ctx) => {
    const out: Record<number, z.output<V>> = {};
    for (const [k, v] of Object.entries(rec)) {
      try {
        const t = names.table(k);
        if (Object.hasOwn(out, t)) ctx.addIssue({ code: 'custom', path: [k], message: `table ${t} is listed twice (as another name or number)` });
        out[t] = v;
      } catch (e) {
        ctx.addIssue({ code: 'custom', path: [k], message: errText(e) });
      }
    }
    return out;
  });
}

/** A name safe to use in logs, metrics labels and file names. */
export const identifier = () =>
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, "_", "." or "-", starting with a letter or digit');

/** "host:port", "[v6addr]:port"; returns the problem or undefined. */
export function hostPortProblem(v: string): string | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(v);
  if (!m) return `expected "host:port" or "[ipv6]:port", got ${JSON.stringify(v)}`;
  const host = m[1] ?? m[2]!;
  if (m[1] !== undefined && isIP(host) !== 6) return `"${host}" in brackets must be an IPv6 address`;
  if (host && m[1] === undefined && !isIP(host) && !/^[A-Za-z0-9.-]+$/.test(host)) return `"${host}" is not a host name or address`;
  const p = Number(m[3]);
  if (p < 1 || p > 65535) return `port ${p} is out of range 1..65535`;
  return undefined;
}

/** A reconnect backoff: first delay and cap, the cap not below the first. */
export const backoffSchema = (initialMs: number, maxMs: number) =>
  obj({
    initialMs: ms().min(1).default(initialMs),
    maxMs: ms().min(1).default(maxMs),
  }).superRefine((b, ctx) => {
    if (b.maxMs < b.initialMs) ctx.addIssue({ code: 'custom', path: ['maxMs'], message: `maxMs ${b.maxMs} is below initialMs ${b.initialMs}` });
  });
