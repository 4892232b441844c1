import { connect } from 'node:net';
import { isErrorCode, RtreflectError } from '../util/errors.js';

export const DEFAULT_CONTROL_SOCKET = '/run/rtreflect/control.sock';

/** Sends one command to the running daemon; `onProgress` sees progress lines; resolves with the result. */
export function controlRequest(
  path: string,
  cmd: string,
  args: Record<string, unknown> = {},
  opts: { onProgress?: (p: Record<string, unknown>) => void; timeoutMs?: number } = {},
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = '';
    let done = false;
    const finish = (err: Error | null, value?: unknown): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(
      () => finish(new RtreflectError('ERR_CONTROL_TIMEOUT', `rtreflect daemon at ${path} did not answer "${cmd}" in time`)),
      opts.timeoutMs ?? 600_000,
    );
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify({ cmd, args }) + '\n'));
    sock.on('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? 'is rtreflect running? (start it with `rtreflect run` or systemctl start rtreflect)'
          : err.code === 'EACCES'
            ? 'permission denied: run as root or as a member of the control group (control.group)'
            : err.message;
      finish(new RtreflectError('ERR_CONTROL_UNAVAILABLE', `cannot reach the rtreflect daemon at ${path}: ${why}`));
    });
    sock.on('data', (chunk: string) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: { progress?: Record<string, unknown>; ok?: boolean; result?: unknown; error?: string; code?: string };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          finish(new RtreflectError('ERR_CONTROL_PROTOCOL', `the daemon at ${path} sent something that is not JSON`));
          return;
        }
        if (msg.progress) opts.onProgress?.(msg.progress);
        else if (msg.ok) finish(null, msg.result);
        // The daemon's own error code (e.g. ERR_BAD_ARGUMENT) decides the exit status.
        else finish(new RtreflectError(isErrorCode(msg.code) ? msg.code : 'ERR_CONTROL_REFUSED', `daemon: ${msg.error ?? 'request failed'}`));
      }
    });
    sock.on('close', () => finish(new RtreflectError('ERR_CONTROL_PROTOCOL', `the daemon at ${path} closed the connection without an answer`)));
  });
}
