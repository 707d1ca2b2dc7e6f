// Latency bookkeeping: one clock that every generator process shares, and HDR
// histograms that cross process boundaries encoded, to be merged by the
// coordinator.

import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';

/**
 * Microseconds on CLOCK_MONOTONIC. process.hrtime reads the same kernel clock in
 * every process, so a timestamp taken by a sender in one generator process can be
 * subtracted from one taken by a receiver in another.
 */
export function monotonicMicros(): number {
  const [seconds, nanoseconds] = process.hrtime();
  return seconds * 1e6 + nanoseconds / 1e3;
}

/** Records microseconds, 3 significant digits. */
export function createLatencyHistogram(): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

export function encodeHistogram(histogram: Histogram): string {
  return encodeIntoCompressedBase64(histogram);
}

export function mergeHistograms(encoded: readonly string[]): Histogram {
  const total = createLatencyHistogram();
  for (const one of encoded) {
    const histogram = decodeFromCompressedBase64(one);
    total.add(histogram);
    histogram.destroy();
  }
  return total;
}

/** A histogram reduced to what a report shows, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(histogram: Histogram): LatencySummary {
  const ms = (micros: number): number => Math.round(micros) / 1000;
  if (histogram.totalCount === 0) return { count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 };
  return {
    count: histogram.totalCount,
    p50: ms(histogram.getValueAtPercentile(50)),
    p95: ms(histogram.getValueAtPercentile(95)),
    p99: ms(histogram.getValueAtPercentile(99)),
    max: ms(histogram.maxValue),
    mean: ms(histogram.mean),
  };
}

export function summarizeEncoded(encoded: readonly string[]): LatencySummary {
  const histogram = mergeHistograms(encoded);
  const summary = summarize(histogram);
  histogram.destroy();
  return summary;
}
