/**
 * Metrics an application adds to its nodes' `/metrics` (Prometheus), without depending on a metrics library:
 * a hook registered with `defineApp({ metrics })` declares gauges and histograms whose values it computes at
 * scrape time — typically with queries to the groups this node leads, so that a cluster's series are each
 * exported once (by the current leader of their group).
 */
import type { GroupId } from '@flotilla/core';
import type { Calls } from '../caller.ts';

export type MetricLabels = Readonly<Record<string, string>>;

/** One series of a histogram whose buckets the application counts itself. */
export interface HistogramSeries {
  readonly labels: MetricLabels;
  /** Observations at or below each bucket's upper bound (cumulative), in the order of `buckets`. */
  readonly cumulative: readonly number[];
  readonly sum: number;
  readonly count: number;
}

export interface MetricsSink {
  gauge(
    name: string,
    help: string,
    labels: readonly string[],
    collect: () => Promise<Iterable<readonly [MetricLabels, number]>>,
  ): void;
  histogram(
    name: string,
    help: string,
    buckets: readonly number[],
    collect: () => Promise<Iterable<HistogramSeries>>,
  ): void;
}

export interface MetricsContext {
  /** Calls through this node (queries of groups it leads are served locally). */
  readonly calls: Calls;
  /** The groups of `kind` this node leads now. */
  localLeaders(kind: string): GroupId[];
}

export type MetricsHook = (sink: MetricsSink, context: MetricsContext) => void;

/** Prometheus metric names. */
export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
