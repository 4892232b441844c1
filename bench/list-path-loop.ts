/**
 * A bare reader of gobgpd's RIB in a process of its own: ListPath of one family, nothing
 * decoded, over and over until it is killed. The full-table bench runs it beside the minimal
 * raw reflector to measure the floor of a live change made while a sink is being read: what
 * gobgpd serving its table costs a write, without rtreflect's decoding on the same core.
 *
 *   node dist/bench/list-path-loop.js ADDRESS 4|6
 */
import { GobgpProbe } from './bench-util.js';

const [address, family] = process.argv.slice(2);
if (!address || (family !== '4' && family !== '6')) {
  console.error('usage: list-path-loop.js ADDRESS 4|6');
  process.exit(2);
}
const probe = new GobgpProbe(address);
for (;;) await probe.bareListPath(Number(family) as 4 | 6);
