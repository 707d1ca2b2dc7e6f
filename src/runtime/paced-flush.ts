// A message between threads has a cost whatever it carries (a post, a wake-up
// of the receiving thread, a turn of its event loop: ~5 µs on one thread, with
// one stanza in it): where each turn carries one or two stanzas, the messages
// cost as much as the stanzas. A paced flush posts at the end of the turn when
// its last post is at least `muc.thread_batch_delay_ms` old, else once it is:
// the first stanza after a pause leaves at once, steady traffic leaves in one
// message per pace. The price is latency: up to the pace per crossing, and a
// lone request answered at once by a shard (a ping-pong) waits for it both
// ways. At 0 (the default) it posts at the end of every turn, as before.

export class PacedFlush {
  private scheduled = false;
  private last = -Infinity;

  constructor(
    private readonly flush: () => void,
    /** The least time between two posts under steady traffic; 0 posts at the end of every turn. */
    private readonly paceMs: number,
  ) {}

  /** Something waits: the flush runs at the end of this turn, or once the pace allows. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.last + this.paceMs - performance.now();
    if (wait <= 0) setImmediate(this.run);
    else setTimeout(this.run, wait);
  }

  private readonly run = (): void => {
    this.scheduled = false;
    this.last = performance.now();
    this.flush();
  };
}
