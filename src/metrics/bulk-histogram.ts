import type { Metric, Registry } from 'prom-client';

interface Series {
  readonly labels: Record<string, string>;
  /** Per bucket, not cumulative; the last one is +Inf. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
  /** What child() hands out for this series. */
  observe: (value: number) => void;
}

interface Value {
  value: number;
  labels: Record<string, string | number>;
  metricName: string;
}

/**
 * A Prometheus histogram with one label, for observations that come by the million:
 * one per route written while a full table loads. prom-client's Histogram checks and
 * hashes the labels on every observation (a measurable share of a cold start's CPU);
 * here a series is bound once and an observation is a bucket search and three additions.
 * It registers with a prom-client Registry and is scraped exactly as prom-client's own.
 */
export class BulkHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelName: string,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Metric);
  }

  /** The observe function of one series, made on first use and the same one after. */
  child(labelValue: string): (value: number) => void {
    const have = this.series.get(labelValue);
    if (have) return have.observe;
    const bounds = this.bounds;
    const series: Series = {
      labels: { [this.labelName]: labelValue },
      counts: new Float64Array(bounds.length + 1),
      sum: 0,
      count: 0,
      observe: (value: number): void => {
        if (!Number.isFinite(value)) return;
        let i = 0;
        while (i < bounds.length && value > bounds[i]!) i++;
        series.counts[i]!++;
        series.sum += value;
        series.count++;
      },
    };
    this.series.set(labelValue, series);
    return series.observe;
  }

  /** The registry's read, in prom-client's shape. */
  async get(): Promise<{ name: string; help: string; type: string; values: Value[]; aggregator: string }> {
    const values: Value[] = [];
    for (const s of this.series.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i]!;
        values.push({ value: acc, labels: { le: this.bounds[i]!, ...s.labels }, metricName: `${this.name}_bucket` });
      }
      values.push({ value: s.count, labels: { le: '+Inf', ...s.labels }, metricName: `${this.name}_bucket` });
      values.push({ value: s.sum, labels: { ...s.labels }, metricName: `${this.name}_sum` });
      values.push({ value: s.count, labels: { ...s.labels }, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
