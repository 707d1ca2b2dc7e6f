// A bounded FIFO mailbox: the heart of an actor. Items are handled one at a
// time, each to completion (awaiting whatever the handler returns) before the
// next starts. A handler that finishes synchronously lets the mailbox drain in
// the same turn, so a busy room costs no promise per stanza; but every
// `turnBudget` items it yields to the event loop (setImmediate), so
// a deep mailbox delays only itself: the other mailboxes of the thread, and
// the messages that bring new items, get their turn in between.

export type MailboxHandler<T> = (item: T) => void | Promise<void>;

/**
 * The event-loop turn, as a number that moves on once per turn in which it
 * was read (one setImmediate for every mailbox of the thread): a mailbox's
 * budget is per turn, however its items arrive (one post at a time, as a
 * shard hands a batch over, or from its own backlog).
 */
let turn = 0;
let turnEnding = false;
function currentTurn(): number {
  if (!turnEnding) {
    turnEnding = true;
    setImmediate(() => {
      turn++;
      turnEnding = false;
    });
  }
  return turn;
}

export class Mailbox<T> {
  private readonly queue: T[] = [];
  private head = 0;
  private running = false;
  /** Items handled in the turn `spentIn`. */
  private spent = 0;
  private spentIn = -1;

  constructor(
    private readonly handler: MailboxHandler<T>,
    private readonly limit: number,
    private readonly onError: (err: unknown, item: T) => void,
    /** Called once per item when its handling is over, after `onError` if it failed. */
    private readonly onDone: (item: T) => void = () => {},
    private readonly turnBudget = Infinity,
  ) {}

  get size(): number {
    return this.queue.length - this.head;
  }

  get idle(): boolean {
    return !this.running && this.size === 0;
  }

  /**
   * Queues an item; false when the mailbox is full (the item is not queued).
   * `beyondLimit` queues it anyway: the limit sheds load from clients, not
   * what the server itself must not lose.
   */
  post(item: T, beyondLimit = false): boolean {
    if (this.size >= this.limit && !beyondLimit) return false;
    this.queue.push(item);
    if (!this.running) this.drain();
    return true;
  }

  private drain(): void {
    this.running = true;
    const now = currentTurn();
    if (now !== this.spentIn) {
      this.spentIn = now;
      this.spent = 0;
    }
    while (this.head < this.queue.length) {
      if (++this.spent > this.turnBudget) {
        this.compact();
        setImmediate(() => this.drain());
        return;
      }
      const item = this.queue[this.head++];
      let pending: void | Promise<void>;
      try {
        pending = this.handler(item);
      } catch (err) {
        this.onError(err, item);
        this.onDone(item);
        continue;
      }
      if (pending instanceof Promise) {
        pending.then(
          () => this.doneThenDrain(item),
          (err) => {
            this.onError(err, item);
            this.doneThenDrain(item);
          },
        );
        this.compact();
        return;
      }
      this.onDone(item);
    }
    this.compact();
    this.running = false;
  }

  private doneThenDrain(item: T): void {
    this.onDone(item);
    this.drain();
  }

  private compact(): void {
    if (this.head > 1024 || this.head === this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}
