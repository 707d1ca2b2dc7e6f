// On an I/O thread, the deliveries a session that moved here (XEP-0198
// resumption, io-threads.ts) gets straight from the shards, held until they
// can no longer overtake those still on their way through its old thread.
//
// The order argument, per shard X: the old thread A sends `move` on its link
// to X after the session left it; X switches the session's directory entry
// to this thread and answers `moved` on the same link, after every delivery
// it sent A for the session. A hands those deliveries to the main thread as
// undelivered and then the `moved` as `fenced`, in that order on A's one port;
// the main thread sends both on to the session, in that order on this
// thread's one port. So when X's fence arrives here, every delivery X sent
// through A is written, and what X sent straight here after its switch is
// written next, in X's order. One shard's fence does not wait for another's:
// order is per room, and a room lives on one shard.

import type { ClientSession } from './c2s-session.js';

export class MoveFence {
  /** Per moved session: per shard not fenced yet, what it sent straight here meanwhile. */
  private readonly waiting = new Map<ClientSession, Map<number, string[]>>();

  constructor(private readonly shardCount: number) {}

  /** `session` moved here and the shards are about to send to it directly: hold what they send until each one's fence. */
  expect(session: ClientSession): void {
    this.waiting.set(session, new Map(Array.from({ length: this.shardCount }, (_, shard) => [shard, []])));
  }

  /** Holds `xml` from `shard` for `session` when that shard's fence has not come; false when it may be written now. */
  held(session: ClientSession, shard: number, xml: string): boolean {
    const held = this.waiting.size === 0 ? undefined : this.waiting.get(session)?.get(shard);
    held?.push(xml);
    return held !== undefined;
  }

  /** Shard `shard`'s fence for `session` came: what it held is written, in order. */
  fenced(session: ClientSession, shard: number): void {
    const shards = this.waiting.get(session);
    const held = shards?.get(shard);
    if (held === undefined) return;
    shards!.delete(shard);
    if (shards!.size === 0) this.waiting.delete(session);
    for (const xml of held) session.send(xml);
  }

  /**
   * Shard `shard` has a new worker: no fence will come from the old one, and
   * what the old one sent is written already (its links were read out before).
   */
  relinked(shard: number): void {
    for (const session of [...this.waiting.keys()]) this.fenced(session, shard);
  }

  /**
   * The session moves on before every fence came: what it held is written
   * now, to go with its state (a second move that quick may put it ahead of
   * what is still on its way through the first thread).
   */
  writeAll(session: ClientSession): void {
    for (const held of this.waiting.get(session)?.values() ?? []) for (const xml of held) session.send(xml);
    this.waiting.delete(session);
  }

  /** The session ended: what it held goes with it. */
  drop(session: ClientSession): void {
    this.waiting.delete(session);
  }
}
