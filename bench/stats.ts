import { availableParallelism, loadavg } from 'node:os';
/** Small helpers shared by the benchmarks: medians and a uniform last JSON line. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: readonly number[], percent: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((percent / 100) * sorted.length))]!;
}

export const round = (value: number, digits = 3) => Number(value.toFixed(digits));

/** Every benchmark ends with exactly one JSON object on its last line. */
export function printResult(result: Record<string, unknown>): void {
  console.log(JSON.stringify(result));
}

/** What else the machine was doing (1-minute load average per core), recorded beside each result. */
export function machine(): { cores: number; loadAveragePerCore: number; node: string } {
  return { cores: availableParallelism(), loadAveragePerCore: round(loadavg()[0]! / availableParallelism(), 2), node: process.version };
}
