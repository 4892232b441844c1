/**
 * A bare reader of gobgpd's RIB in a process of its own: ListPath of one family, nothing
 * decoded, over and over until it is killed. The full-table bench runs it beside the minimal
 * raw reflector to measure the floor of a live change made while a sink is being read: what
 * gobgpd serving its table costs a write (it copies the table in its main loop when a ListPath
 * comes in), without rtreflect's decoding on the same core.
 *
 *   node dist/bench/list-path-loop.js ADDRESS 4|6
 *
 * Prints "ready" once loaded, then waits for a line on stdin before its first ListPath, and
 * "listing" as each one is sent, so the bench's changes can start with the read.
 */
import { createInterface } from 'node:readline';
import { GobgpClient } from '../src/sinks/gobgp/gobgp-api.js';

const [address, family] = process.argv.slice(2);
if (!address || (family !== '4' && family !== '6')) {
  console.error('usage: list-path-loop.js ADDRESS 4|6');
  process.exit(2);
}
// Loaded before "ready": loading the API definitions takes longer than the bench's changes.
const client = new GobgpClient(address);
const go = new Promise<void>((resolve) => createInterface({ input: process.stdin }).once('line', () => resolve()));
console.log('ready');
await go;
for (;;) {
  const read = client.listPathMessages(Number(family) as 4 | 6, {}, () => undefined);
  console.log('listing'); // the request is on its way
  await read;
}
