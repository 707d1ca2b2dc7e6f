// A seeded pseudo-random generator (mulberry32), so that every fuzz input is a
// pure function of the run's seed and the input's number: a finding reproduces
// from the two numbers printed beside it.

export class Random {
  private state: number;

  constructor(seed: number, stream = 0) {
    // Mixes the stream number in so that neighbouring inputs do not share a sequence.
    this.state = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(stream + 1, 0xc2b2ae35)) >>> 0;
    this.next();
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, below). */
  int(below: number): number {
    return Math.floor(this.next() * below);
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** A length skewed towards small values, now and then up to `max`. */
  size(max: number): number {
    return Math.floor(max ** this.next());
  }
}
