// An occupant: one nickname in a room, held by one bare JID through one or more
// sessions (full JIDs). Each session keeps the last presence it sent, stripped
// of MUC payloads and addressed from the in-room JID; that presence is the
// template of what the room shows of the occupant.

import { jidResource } from '../jid/jid.js';
import type { Element } from '../xml/element.js';
import type { Role } from './roles.js';
import { withoutMucPayload } from './stanzas.js';

export class Occupant {
  role: Role = 'none';
  /** Full JID → last presence of that session. */
  readonly sessions = new Map<string, Element>();
  /** The session whose presence represents the occupant. */
  primary: string | undefined;

  constructor(
    /** The in-room JID, room@service/nick. */
    readonly nick: string,
    /** The real bare JID. */
    readonly bareJid: string,
  ) {}

  /** The nickname alone (the resource of the in-room JID). */
  get name(): string {
    return jidResource(this.nick);
  }

  /** Records a session's presence; an unavailable one stays only as long as it must. */
  setSession(realJid: string, presence: Element): void {
    const stored = withoutMucPayload(presence);
    stored.setAttr('from', this.nick).setAttr('to', realJid);
    this.sessions.set(realJid, stored);
    if (this.primary === undefined || (isUnavailable(stored) && this.primary === realJid)) {
      this.primary = this.firstLiveSession() ?? realJid;
    }
  }

  removeSession(realJid: string): void {
    this.sessions.delete(realJid);
    if (this.primary === realJid) this.primary = this.firstLiveSession();
  }

  presence(realJid = this.primary): Element | undefined {
    return realJid === undefined ? undefined : this.sessions.get(realJid);
  }

  /** Full JIDs of the sessions that are in the room (their last presence is not unavailable). */
  liveSessions(): string[] {
    const out: string[] = [];
    for (const [jid, presence] of this.sessions) if (!isUnavailable(presence)) out.push(jid);
    return out;
  }

  /** A copy that keeps only the sessions still worth remembering (live ones and the primary). */
  pruned(): Occupant {
    const copy = new Occupant(this.nick, this.bareJid);
    copy.role = this.role;
    for (const [jid, presence] of this.sessions) {
      if (!isUnavailable(presence) || jid === this.primary) copy.sessions.set(jid, presence);
    }
    copy.primary = this.primary;
    return copy;
  }

  private firstLiveSession(): string | undefined {
    for (const [jid, presence] of this.sessions) if (!isUnavailable(presence)) return jid;
    return undefined;
  }
}

function isUnavailable(presence: Element): boolean {
  return presence.attrs.type === 'unavailable';
}
