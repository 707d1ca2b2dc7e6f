// A shard's heap as a budget: the worker measures its heap use now and then
// (a timer, not every stanza, so the common path pays nothing) and says when
// it is over the budget, so the shard can shed load (refuse new rooms and
// history growth) well before V8's own limit kills the worker.

import { getHeapStatistics } from 'node:v8';

const MEASURE_EVERY_MS = 100;

export class HeapBudget {
  private over = false;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly budgetBytes: number) {
    this.measure();
    this.timer = setInterval(() => this.measure(), MEASURE_EVERY_MS).unref();
  }

  /** Whether the heap was over the budget when last measured. */
  get exceeded(): boolean {
    return this.over;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private measure(): void {
    this.over = getHeapStatistics().used_heap_size > this.budgetBytes;
  }
}
