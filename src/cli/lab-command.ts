import { labDown, labStatus, labUp } from '../lab/lab.js';
import { usageError } from './cli-errors.js';

export async function labCommand(action: string, o: { routes: string; dir: string; prefix?: string }): Promise<void> {
  const routes = Number(o.routes);
  if (!Number.isInteger(routes) || routes < 1 || routes > 200_000) throw usageError(`--routes: "${o.routes}" must be a whole number 1..200000`);
  const opts = { dir: o.dir, prefix: o.prefix ?? 'rtrlab', routes };
  if (action === 'up') await labUp(opts);
  else if (action === 'down') await labDown(opts);
  else if (action === 'status') labStatus(opts);
  else throw usageError(`lab: unknown action "${action}"; use up, down or status`);
}
