// Client state indication (XEP-0352) for one client session. While the client
// says it is inactive (a phone in a pocket), what it would not show anyway
// waits: presences in its rooms, of which only each occupant's latest is kept,
// and messages without a body (chat states, receipts, headlines). It all goes
// out, in order and before it, when something urgent comes (a message with a
// body, a subject, an invitation, an error, an iq, a presence about the client
// itself), when the client sends anything or becomes active, when
// `client.csi_max_held` stanzas wait, or when its connection is lost (into the
// resumption queue, which collapses presences while the client is away, see
// stream-management.ts). What counts as urgent is Prosody's
// mod_csi_simple's, with the self-presence (status 110) it leaves as a TODO.
// What waited goes out stamped with the time it came (XEP-0203).

import { startTagAttribute, topLevelElements } from '../xml/serialized.js';
import type { Element } from '../xml/element.js';
import { delayed } from '../xmpp/delay.js';

export const CSI_NS = 'urn:xmpp:csi:0';

/** The feature offered after authentication. */
export const CSI_FEATURE = `<csi xmlns='${CSI_NS}'/>`;

/** Message payloads a user would want to see now (`<sent/>` is a carbon of their own message). */
const URGENT_MESSAGE = /<(?:body|subject|invite)[\s/>]|jabber:x:conference|<sent xmlns='urn:xmpp:carbons:2'|urn:xmpp:jingle-message:/;
/** A room's presence about the client's own occupant (its join, a kick, a ban). */
const SELF_PRESENCE = /<status code='110'\/>/;

/** Client state as it moves between threads. */
export interface CsiState {
  inactive: boolean;
  held: [string, string][];
  heldMessages: number;
}

export class ClientState {
  private inactiveNow = false;
  /**
   * Held stanzas in arrival order with the time each came, keyed so that a
   * presence replaces its sender's previous one; stamped only when they go,
   * so that what is superseded costs no stamp.
   */
  private readonly held = new Map<string, { stanza: string; at: number }>();
  private heldMessages = 0;

  constructor(
    private readonly maxHeld: number,
    /** Who stamps what was held as delayed: the session's server domain. */
    private readonly domain: string,
    /** Sends what was held on to the client: serialized, and as stanzas. */
    private readonly release: (xml: string, stanzas: string[]) => void,
  ) {}

  /** What to carry to another thread when the session moves (stream-management.ts). */
  handOver(): CsiState {
    return { inactive: this.inactiveNow, held: [...this.held].map(([key, held]) => [key, this.stamped(held)]), heldMessages: this.heldMessages };
  }

  /** Takes up the state of a session that moved from another thread. */
  adopt(state: CsiState): void {
    this.inactiveNow = state.inactive;
    // Stamped already: the stamp they carry is kept.
    for (const [key, stanza] of state.held) this.held.set(key, { stanza, at: 0 });
    this.heldMessages = state.heldMessages;
  }

  get inactive(): boolean {
    return this.inactiveNow;
  }

  /** <active/> or <inactive/>; false for any other element. */
  handle(element: Element): boolean {
    if (element.name === 'inactive') this.inactiveNow = true;
    else if (element.name === 'active') {
      this.inactiveNow = false;
      this.flush();
    } else return false;
    return true;
  }

  /**
   * Takes what the session is about to send (`stanzas` is `xml` split, when
   * the caller has it): true when it is held, false when it goes now (after
   * what was held).
   */
  holds(xml: string, stanzas?: string[]): boolean {
    if (!this.inactiveNow) return false;
    stanzas ??= topLevelElements(xml);
    if (stanzas.some(isUrgent)) {
      this.flush();
      return false;
    }
    const now = Date.now();
    for (const stanza of stanzas) {
      const key = stanza.startsWith('<presence') ? 'presence ' + startTagAttribute(stanza, 'from') : String(this.heldMessages++);
      // Deleted first so that the latest presence takes its place in the order.
      this.held.delete(key);
      this.held.set(key, { stanza, at: now });
    }
    if (this.held.size >= this.maxHeld) this.flush();
    return true;
  }

  /** Sends everything held. */
  flush(): void {
    if (this.held.size === 0) return;
    const stanzas = Array.from(this.held.values(), (held) => this.stamped(held));
    this.held.clear();
    this.release(stanzas.join(''), stanzas);
  }

  private stamped({ stanza, at }: { stanza: string; at: number }): string {
    return delayed(stanza, this.domain, at);
  }
}

/** Prosody's mod_csi_simple's is_important, on a stanza as serialized. */
function isUrgent(stanza: string): boolean {
  if (stanza.startsWith('<iq')) return true;
  const type = startTagAttribute(stanza, 'type');
  if (stanza.startsWith('<presence')) {
    return (type !== undefined && type !== 'unavailable' && type !== 'error') || SELF_PRESENCE.test(stanza);
  }
  if (!stanza.startsWith('<message') || type === 'error') return true;
  return type !== 'headline' && URGENT_MESSAGE.test(stanza);
}
