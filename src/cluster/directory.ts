// The session directory: which node serves each client session of the
// cluster, learnt from the nodes' announcements (each node announces the
// full JIDs it binds and ends) and from a snapshot each node asks of a node
// it meets. A node's entries go when it is counted out.

import { bareJid, jidResource } from '../jid/jid.js';

const NONE: readonly string[] = [];

export class SessionDirectory {
  private readonly byNode = new Map<string, Set<string>>();
  private readonly nodeOfFull = new Map<string, string>();
  /** For each bare JID, the nodes holding its sessions, with how many each. */
  private readonly nodesOfBare = new Map<string, Map<string, number>>();

  /** The other nodes serving a full JID (one at most) or sessions of a bare JID. */
  nodesServing(jid: string): readonly string[] {
    if (jidResource(jid) !== '') {
      const node = this.nodeOfFull.get(jid);
      return node === undefined ? NONE : [node];
    }
    const nodes = this.nodesOfBare.get(jid);
    return nodes === undefined ? NONE : [...nodes.keys()];
  }

  bound(node: string, fullJid: string): void {
    // A full JID is bound once in the cluster; a stale entry from elsewhere gives way.
    const previous = this.nodeOfFull.get(fullJid);
    if (previous !== undefined) this.ended(previous, fullJid);
    let sessions = this.byNode.get(node);
    if (!sessions) this.byNode.set(node, (sessions = new Set()));
    sessions.add(fullJid);
    this.nodeOfFull.set(fullJid, node);
    const bare = bareJid(fullJid);
    let nodes = this.nodesOfBare.get(bare);
    if (!nodes) this.nodesOfBare.set(bare, (nodes = new Map()));
    nodes.set(node, (nodes.get(node) ?? 0) + 1);
  }

  ended(node: string, fullJid: string): void {
    if (!this.byNode.get(node)?.delete(fullJid)) return;
    this.nodeOfFull.delete(fullJid);
    const bare = bareJid(fullJid);
    const nodes = this.nodesOfBare.get(bare)!;
    const left = nodes.get(node)! - 1;
    if (left > 0) nodes.set(node, left);
    else nodes.delete(node);
    if (nodes.size === 0) this.nodesOfBare.delete(bare);
  }

  /** Replaces what is known of the node with its snapshot; returns the full JIDs it was known to serve before. */
  replace(node: string, fullJids: readonly string[]): string[] {
    const before = this.drop(node);
    for (const jid of fullJids) this.bound(node, jid);
    return before;
  }

  /** Forgets the node; returns the full JIDs it served. */
  drop(node: string): string[] {
    const jids = [...(this.byNode.get(node) ?? [])];
    for (const jid of jids) this.ended(node, jid);
    this.byNode.delete(node);
    return jids;
  }
}
