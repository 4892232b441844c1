import type { ReflectedRoute } from './reflected-route.js';

/**
 * The kernel routes competing for one dataplane entry: usually one, several when
 * the same prefix is in the kernel with different metrics (or two tables map to
 * one VRF). Stored bare when single, to keep a full table small.
 */
export type Candidates = ReflectedRoute | ReflectedRoute[];

/** Lowest metric wins, as in the kernel; ties go to the lower table, then the earlier candidate. */
export function pickWinner(c: Candidates): ReflectedRoute {
  if (!Array.isArray(c)) return c;
  let best = c[0]!;
  for (let i = 1; i < c.length; i++) {
    const r = c[i]!;
    if (r.metric < best.metric || (r.metric === best.metric && r.table < best.table)) best = r;
  }
  return best;
}
