// Who is in the cluster: every node heartbeats on one subject, and a node
// that has not been heard for `node_timeout_seconds` is out (so within that
// plus one sweep, a heartbeat interval). A node that stops cleanly says so
// and is out at once. No election, no consensus: each node keeps its own view,
// and the views agree once the heartbeats have gone round.

export interface MembershipChange {
  /** The live nodes, this one included, sorted. */
  members: readonly string[];
  joined: string[];
  left: string[];
}

export class Membership {
  /** When each other node was last heard, in ms. */
  private readonly lastHeard = new Map<string, number>();
  private current: readonly string[];

  constructor(
    readonly self: string,
    private readonly timeoutMs: number,
    private readonly changed: (change: MembershipChange) => void,
  ) {
    this.current = [self];
  }

  get members(): readonly string[] {
    return this.current;
  }

  /** A heartbeat from `node`; true when it is new to this view. */
  heard(node: string, now: number): boolean {
    if (node === this.self) return false;
    const known = this.lastHeard.has(node);
    this.lastHeard.set(node, now);
    if (!known) this.update([node], []);
    return !known;
  }

  /** `node` said it is leaving. */
  leaving(node: string): void {
    if (this.lastHeard.delete(node)) this.update([], [node]);
  }

  /** Counts out every node silent for longer than the timeout. */
  sweep(now: number): void {
    const silent = [...this.lastHeard].filter(([, heard]) => now - heard > this.timeoutMs).map(([node]) => node);
    for (const node of silent) this.lastHeard.delete(node);
    if (silent.length > 0) this.update([], silent);
  }

  private update(joined: string[], left: string[]): void {
    this.current = [this.self, ...this.lastHeard.keys()].sort();
    this.changed({ members: this.current, joined, left });
  }
}
