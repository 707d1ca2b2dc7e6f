// The stanzas a shard has handed to its room actors and that they have not
// finished with. A question about every room (the service's disco#items) is
// answered once the stanzas received before it are handled: a client that
// saw its leave processed must not find the room it emptied still listed
// (Prosody answers from one thread, where this holds by itself).

export class RoomBacklog {
  /** Receipts posted to a room and not yet handled, each with the order it was posted in (receipts from the pool and from the I/O threads' links do not share one order). */
  private readonly pending = new Map<number, number>();
  /** How many receipts were posted. */
  private posts = 0;
  private waiters: { upTo: number; resolve: () => void }[] = [];

  posted(receipt: number): void {
    this.pending.set(receipt, this.posts++);
  }

  handled(receipt: number): void {
    if (!this.pending.delete(receipt) || this.waiters.length === 0) return;
    let oldest = Infinity;
    for (const posted of this.pending.values()) if (posted < oldest) oldest = posted;
    this.waiters = this.waiters.filter((waiter) => {
      if (waiter.upTo >= oldest) return true;
      waiter.resolve();
      return false;
    });
  }

  /** Resolves once every stanza posted so far is handled. */
  drained(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ upTo: this.posts - 1, resolve }));
  }
}
