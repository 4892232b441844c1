/**
 * How work done in slices (a RIB read, the end of a kernel dump, folding records) waits between
 * them: until the event loop has gone round once in full. A bare setImmediate would not do: the
 * immediates that a kernel event queues (the engine's drain) come after it in the same queue, so
 * a live change would wait for the next slice as well as the current one.
 */
export function afterLoopTurn(run: () => void): void {
  setImmediate(() => setImmediate(run));
}

/** afterLoopTurn as a promise. */
export function loopTurn(): Promise<void> {
  return new Promise((resolve) => afterLoopTurn(resolve));
}
