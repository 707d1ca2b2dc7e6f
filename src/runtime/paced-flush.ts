// A message between threads costs about the same whatever it carries: a
// structured clone, a wake-up of the receiving thread and a turn of its event
// loop. On a busy machine each turn gathers many stanzas and shares that cost;
// on a quiet one a turn carries one or two, and the threads spend as much on
// the messages as on the stanzas (fan-out 100×10 at 60k delivered/s: two I/O
// threads and their shards spent 0.15 core more than one thread doing the
// same work). A paced flush posts at the end of the turn when its last post
// is at least `PACE_MS` old, else once it is: the first stanza after a pause
// leaves at once, steady traffic leaves in one message per pace.

/** The least time between two posts of one flush under steady traffic. */
export const PACE_MS = 1;

export class PacedFlush {
  private scheduled = false;
  private last = -Infinity;

  constructor(private readonly flush: () => void) {}

  /** Something waits: the flush runs at the end of this turn, or once the pace allows. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const wait = this.last + PACE_MS - performance.now();
    if (wait <= 0) setImmediate(this.run);
    else setTimeout(this.run, wait);
  }

  private readonly run = (): void => {
    this.scheduled = false;
    this.last = performance.now();
    this.flush();
  };
}
