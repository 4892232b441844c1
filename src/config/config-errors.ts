import { RtreflectError } from '../util/errors.js';

/** One problem in a config file: where (key path, and line:column when known) and what to do. */
export interface ConfigIssue {
  /** "sinks[0].address"; empty for the whole file. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** "sinks[0].gobgp.address" from ['sinks', 0, 'gobgp', 'address']. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

export function formatIssue(origin: string, i: ConfigIssue): string {
  const where = i.line !== undefined ? `${origin}:${i.line}:${i.column ?? 1}` : origin;
  return `${where}: ${i.path ? `${i.path}: ` : ''}${i.message}`;
}

/**
 * The config (or the handler chain it describes) is not usable. `message` lists
 * every issue, one per line: "origin[:line:col]: path: problem". The CLI exits
 * with ExitCode.CONFIG (78) for code ERR_CONFIG.
 */
export class ConfigError extends RtreflectError {
  readonly origin: string;
  readonly issues: ConfigIssue[];

  constructor(origin: string, issues: ConfigIssue[], opts: { cause?: unknown } = {}) {
    super('ERR_CONFIG', issues.map((i) => formatIssue(origin, i)).join('\n'), { details: { origin, issues }, cause: opts.cause });
    this.name = 'ConfigError';
    this.origin = origin;
    this.issues = issues;
  }
}
