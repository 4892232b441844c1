import type { Logger } from '../util/logger.js';

type SendFn = (socketPath: string, message: string) => void;

/**
 * sd_notify without libsystemd: a datagram to $NOTIFY_SOCKET (the native addon
 * sends it; Node has no datagram unix sockets). Inactive outside systemd.
 * The watchdog ping is sent from a timer on the event loop, so a stuck loop
 * stops pinging and systemd restarts the service.
 */
export class SystemdNotifier {
  private readonly socketPath: string | undefined;
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    private readonly send: SendFn,
    private readonly logger: Logger,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.socketPath = env.NOTIFY_SOCKET || undefined;
    const usec = Number(env.WATCHDOG_USEC);
    const pidOk = !env.WATCHDOG_PID || Number(env.WATCHDOG_PID) === process.pid;
    if (this.socketPath && usec > 0 && pidOk) {
      // Ping at half the interval, as sd_watchdog_enabled() users are told to.
      this.watchdog = setInterval(() => this.notify('WATCHDOG=1'), Math.max(50, Math.floor(usec / 2000)));
      this.watchdog.unref();
    }
  }

  get active(): boolean {
    return this.socketPath !== undefined;
  }

  notify(message: string): void {
    if (!this.socketPath) return;
    try {
      this.send(this.socketPath, message);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'systemd notification failed');
    }
  }

  ready(status: string): void {
    this.notify(`READY=1\nSTATUS=${status}\nMAINPID=${process.pid}`);
  }

  status(status: string): void {
    this.notify(`STATUS=${status}`);
  }

  reloading(): void {
    // systemd >= 253 wants MONOTONIC_USEC with RELOADING=1 for Type=notify-reload; harmless before.
    const usec = process.hrtime.bigint() / 1000n;
    this.notify(`RELOADING=1\nMONOTONIC_USEC=${usec}`);
  }

  stopping(): void {
    this.notify('STOPPING=1');
  }

  close(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }
}
