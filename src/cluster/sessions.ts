// The session table of a cluster node: the same table, announcing each
// session it binds and ends so that the other nodes' directories know where
// the session is.

import { SessionTable, type BoundSession } from '../frontend/sessions.js';
import type { ClusterNode } from './node.js';

export class AnnouncedSessionTable<S extends BoundSession> extends SessionTable<S> {
  constructor(private readonly cluster: ClusterNode) {
    super();
  }

  override add(session: S): void {
    super.add(session);
    this.cluster.sessionBound(session.fullJid);
  }

  override remove(session: S): void {
    if (this.get(session.fullJid) !== session) return;
    super.remove(session);
    this.cluster.sessionEnded(session.fullJid);
  }
}
