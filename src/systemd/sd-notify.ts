import { fromNativeError, loadNative } from '../kernel/native.js';

/**
 * Sends one systemd notification (READY=1, STATUS=..., WATCHDOG=1) as a datagram to NOTIFY_SOCKET.
 * A path starting with '@' is an abstract socket name. Throws ERR_SD_NOTIFY on failure.
 * The native addon sends it: Node has no datagram unix sockets.
 */
export function sdNotify(socketPath: string, message: string): void {
  try {
    loadNative().sdNotify(socketPath, message);
  } catch (err) {
    throw fromNativeError(err);
  }
}
