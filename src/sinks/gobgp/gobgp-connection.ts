/**
 * The GoBGP sink's connection to gobgpd: the connect loop (with the shared backoff), a health
 * check and a watch on the gRPC channel while up, and the state the engine sees.
 *
 * gobgpd forgets injected paths when it restarts: any loss of the channel is reported as
 * onResyncNeeded once it is back. A `generation` counter, bumped on every up, down and stop,
 * lets a timer or watch of an older connection see that it is stale and do nothing.
 */
import * as grpc from '@grpc/grpc-js';
import { RtreflectError } from '../../util/errors.js';
import { Backoff } from '../../util/backoff.js';
import type { Logger } from '../../util/logger.js';
import type { SinkConnectionState, SinkHooks } from '../../engine/sink.js';
import { GobgpClient } from './gobgp-api.js';
import type { GobgpSinkOptions } from './gobgp-options.js';
import type { GobgpVrfs } from './gobgp-vrfs.js';

const CONNECTION_CODES = new Set([grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.DEADLINE_EXCEEDED, grpc.status.INTERNAL]);

/** A gRPC failure that means the connection (or gobgpd) went away, not a refusal of what was sent. */
export function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: number })?.code;
  return typeof code === 'number' && CONNECTION_CODES.has(code);
}

/** What gobgpd (or grpc-js) said, for logs and reports. */
export function errText(e: unknown): string {
  return (e as { details?: string })?.details || (e as Error)?.message || String(e);
}

export class GobgpConnection {
  client: GobgpClient | undefined;
  /** The last connection failure or reason for going down, for status and error messages. */
  lastError: string | undefined;
  /** The engine's logger once started (the writer and reader log through it too). */
  log: Logger;
  /** The engine's hooks once started. */
  hooks: SinkHooks | undefined;

  private st: SinkConnectionState = 'stopped';
  private stopped = false;
  private everUp = false;
  /** start() returned before gobgpd was reachable: the first connection then needs a resync too. */
  private startedWithoutConnection = false;
  private resyncReason: string | undefined;
  private connecting: Promise<void> | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private backoffTimer: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  private generation = 0;

  /** `onLost` runs when the connection goes down: what was only in flight on it is gone. */
  constructor(
    private readonly opts: GobgpSinkOptions,
    private readonly vrfs: GobgpVrfs,
    logger: Logger,
    private readonly onLost: () => void,
  ) {
    this.log = logger.child({ sink: opts.name });
  }

  state(): SinkConnectionState {
    return this.st;
  }

  /** stop() ran (and start() has not run again since). */
  get isStopped(): boolean {
    return this.stopped;
  }

  private setState(s: SinkConnectionState, detail?: string): void {
    if (this.st === s) return;
    this.st = s;
    try {
      this.hooks?.onState(s, detail);
    } catch (e) {
      this.log.error({ err: e }, 'onState hook threw');
    }
  }

  async start(hooks: SinkHooks): Promise<void> {
    this.hooks = hooks;
    this.log = hooks.logger.child({ sink: this.opts.name });
    this.stopped = false;
    this.client = new GobgpClient(this.opts.address, { protoDir: this.opts.protoDir, callTimeoutMs: this.opts.callTimeoutMs });
    this.setState('connecting');
    this.kickConnect();
    // Wait for the first attempt only; later attempts continue in the background.
    const first = this.connecting!;
    await Promise.race([first, new Promise((r) => setTimeout(r, this.opts.connectTimeoutMs + 200).unref())]);
    if (this.st !== 'up') {
      this.startedWithoutConnection = true;
      this.log.warn({ address: this.opts.address }, 'gobgpd not reachable yet; will keep trying');
    }
  }

  /** The client, or ERR_GOBGP_DOWN naming the address and the last failure. */
  requireUp(): GobgpClient {
    if (this.st !== 'up' || !this.client) {
      throw new RtreflectError(
        'ERR_GOBGP_DOWN',
        `gobgp sink "${this.opts.name}": not connected to gobgpd at ${this.opts.address}${this.lastError ? ` (${this.lastError})` : ''}`,
      );
    }
    return this.client;
  }

  private kickConnect(): void {
    if (this.connecting || this.stopped) return;
    this.connecting = this.connectLoop()
      .catch((e) => {
        this.log.error({ err: e }, 'gobgp connect loop failed');
      })
      .finally(() => {
        this.connecting = undefined;
      });
  }

  private async connectLoop(): Promise<void> {
    const backoff = new Backoff(this.opts.backoff);
    while (!this.stopped) {
      const client = this.client!;
      try {
        await client.waitForReady(this.opts.connectTimeoutMs);
        const bgp = await client.getBgp();
        if (!bgp.global?.asn) throw new Error('gobgpd has no global configuration yet (BGP not started)');
        await this.vrfs.refresh(client);
        this.onUp();
        return;
      } catch (e) {
        const delayMs = backoff.delay();
        this.lastError = `connect to ${this.opts.address}: ${errText(e)}`;
        this.log.debug({ err: errText(e), delayMs }, 'gobgpd not reachable');
        if (this.st === 'up') this.goDown(this.lastError);
        await this.sleep(delayMs);
      }
    }
  }

  /** A backoff wait that stop() can cut short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.backoffTimer = undefined;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.backoffTimer = { timer, wake };
    });
  }

  private onUp(): void {
    if (this.stopped) return;
    this.generation++;
    this.setState('up');
    this.log.info({ address: this.opts.address }, 'connected to gobgpd');
    this.watchChannel();
    this.startHealth();
    const reason = this.resyncReason ?? (this.everUp ? 'gobgpd reconnected' : undefined);
    this.everUp = true;
    this.resyncReason = undefined;
    // The first connection during start() needs no resync (the engine syncs after start); any later one does.
    if (reason !== undefined || this.startedWithoutConnection) {
      this.startedWithoutConnection = false;
      try {
        this.hooks?.onResyncNeeded(reason ?? 'gobgpd connected');
      } catch (e) {
        this.log.error({ err: e }, 'onResyncNeeded hook threw');
      }
    }
  }

  /** Leaving READY means the TCP connection went away: gobgpd may have restarted and lost our paths. */
  private watchChannel(): void {
    const gen = this.generation;
    const ch = this.client!.channel;
    const watch = (from: grpc.connectivityState): void => {
      if (this.stopped || gen !== this.generation) return;
      try {
        ch.watchConnectivityState(from, Date.now() + 86_400_000, () => {
          if (this.stopped || gen !== this.generation || this.st !== 'up') return;
          const now = ch.getConnectivityState(false);
          if (now === grpc.connectivityState.READY) {
            watch(now);
            return;
          }
          this.goDown(`gRPC channel to gobgpd left READY (${grpc.connectivityState[now]})`);
        });
      } catch {
        /* channel closed */
      }
    };
    watch(ch.getConnectivityState(false));
  }

  private startHealth(): void {
    clearInterval(this.healthTimer);
    const gen = this.generation;
    this.healthTimer = setInterval(() => {
      if (this.stopped || gen !== this.generation || this.st !== 'up') return;
      this.client!.getBgp().then(
        (r) => {
          if (!r.global?.asn && gen === this.generation) this.goDown('gobgpd lost its global configuration');
        },
        (e) => {
          if (gen === this.generation) this.goDown(`gobgpd health check failed: ${errText(e)}`);
        },
      );
    }, this.opts.healthIntervalMs);
    this.healthTimer.unref();
  }

  /** The connection is gone (or unusable): report it, and reconnect in the background, then resync. */
  goDown(reason: string): void {
    if (this.stopped || this.st !== 'up') return;
    this.generation++;
    clearInterval(this.healthTimer);
    this.lastError = reason;
    this.onLost();
    this.resyncReason = `gobgpd connection lost (${reason}); it may have restarted and forgotten injected paths`;
    this.log.warn({ reason }, 'gobgpd connection down');
    this.setState('down', reason);
    this.kickConnect();
  }

  /** First half of stop: no more reconnects, timers or watches (writes still queued may finish). */
  halt(): void {
    this.stopped = true;
    this.generation++;
    clearInterval(this.healthTimer);
    this.backoffTimer?.wake();
  }

  /** Second half of stop, once the writes are done. */
  close(): void {
    this.client?.close();
    this.setState('stopped');
  }
}
