// The MUC's main-thread side of each shard (the runtime's `ShardKeeper`): who
// is in which of the shard's rooms, from the shard's `occupant` events, so
// that when the shard's worker dies or the shard closes, every occupant hears
// that it was removed (status 332), as Prosody's room:clear() does on
// shutdown. And which stanzas a shard that will not handle them answers.

import type { Settings } from '../config/load.js';
import { jidDomain, prepJid } from '../jid/jid.js';
import type { Delivery, ShardApplicationSpec, ShardEvent, ShardKeeper } from '../runtime/protocol.js';
import { toDelivery } from '../runtime/shard-channel.js';
import { el, type Element } from '../xml/element.js';
import { errorAnswer, type StanzaErrorCondition } from '../xmpp/errors.js';
import { NS_MUC_USER } from '../xmpp/namespaces.js';

/** An occupant session joined (`present`) or left a room under the nickname. */
export interface OccupantEvent extends ShardEvent {
  kind: 'occupant';
  room: string;
  nick: string;
  jid: string;
  present: boolean;
}

/**
 * The MUC as a server's shard pool runs it: a keeper for each shard, and who
 * is behind an in-room JID across them (a block list that names a user's
 * real JID needs it for the user's private messages through a room).
 */
export class MucShards implements ShardApplicationSpec {
  readonly workerModule = new URL('./service.js', import.meta.url).href;
  private readonly keepers: MucShardKeeper[] = [];

  keeper = (settings: Settings): MucShardKeeper => {
    const keeper = new MucShardKeeper(settings);
    this.keepers.push(keeper);
    return keeper;
  };

  /** The real full JIDs of the sessions behind `room@service/nick`, in the room's shard. */
  realJids(occupantJid: string): string[] {
    const slash = occupantJid.indexOf('/');
    if (slash < 0) return [];
    const [room, nick] = [occupantJid.slice(0, slash), occupantJid.slice(slash + 1)];
    for (const keeper of this.keepers) {
      const jids = keeper.sessionsOf(room, nick);
      if (jids !== undefined) return [...jids];
    }
    return [];
  }
}

export class MucShardKeeper implements ShardKeeper {
  private readonly occupants = new OccupantIndex();
  /** The MUC service's domain: a stanza from it is never answered with an error, which would come back to the shard. */
  private readonly serviceDomain: string;

  constructor(settings: Settings) {
    this.serviceDomain = serviceDomainOf(settings);
  }

  apply(event: ShardEvent): void {
    if (event.kind === 'occupant') this.occupants.apply(event as OccupantEvent);
  }

  /**
   * A self-presence per nick for each known occupant session. Occupants get
   * no presence for the others, which would cost a square of the room's size.
   */
  workerGone(): Delivery[] {
    const deliveries: Delivery[] = [];
    for (const [room, nicks] of this.occupants.rooms()) {
      for (const [nick, jids] of nicks) deliveries.push(toDelivery(removedPresence(room, nick), [...jids]));
    }
    this.occupants.clear();
    return deliveries;
  }

  errorAnswer(stanza: Element, condition: StanzaErrorCondition): Element | undefined {
    return unhandledStanzaAnswer(stanza, condition, this.serviceDomain);
  }

  roomSizes(): number[] {
    return this.occupants.sizes();
  }

  /** The sessions in the room under the nickname, if the room is this shard's and has it. */
  sessionsOf(room: string, nick: string): ReadonlySet<string> | undefined {
    return this.occupants.sessionsOf(room, nick);
  }
}

export function serviceDomainOf(settings: Settings): string {
  return prepJid(settings.muc.domain) ?? settings.muc.domain;
}

/**
 * The error answer to a stanza the shard will not handle, addressed to its
 * sender; undefined for those that take none: errors and iq results
 * (RFC 6120 §8.3.1), unavailable presences (a leave: the room's occupants
 * learn the rest from a 332 presence), and stanzas from the MUC service
 * itself, whose answer would come back here. A join gets a presence error,
 * so the client knows it is not in the room.
 */
export function unhandledStanzaAnswer(stanza: Element, condition: StanzaErrorCondition, serviceDomain: string): Element | undefined {
  const sender = stanza.attrs.from;
  if (sender === undefined || jidDomain(sender) === serviceDomain) return undefined;
  if (stanza.name === 'presence' && stanza.attrs.type === 'unavailable') return undefined;
  return errorAnswer(stanza, condition);
}

/** What an occupant's session is told when the room ends under it (a shutdown, a restart): it was removed (332). */
export function removedPresence(room: string, nick: string): Element {
  return el(
    'presence',
    { from: room + '/' + nick, type: 'unavailable' },
    el(
      'x',
      { xmlns: NS_MUC_USER },
      el('item', { affiliation: 'none', role: 'none' }),
      el('status', { code: '332' }),
      el('status', { code: '110' }),
    ),
  );
}

/** Who is in which room of a shard, from its `occupant` events: room → nick → full JIDs. */
class OccupantIndex {
  private readonly byRoom = new Map<string, Map<string, Set<string>>>();

  apply(event: OccupantEvent): void {
    const { room, nick, jid, present } = event;
    let nicks = this.byRoom.get(room);
    if (present) {
      if (nicks === undefined) this.byRoom.set(room, (nicks = new Map()));
      let jids = nicks.get(nick);
      if (jids === undefined) nicks.set(nick, (jids = new Set()));
      jids.add(jid);
      return;
    }
    const jids = nicks?.get(nick);
    if (nicks === undefined || jids === undefined) return;
    jids.delete(jid);
    if (jids.size === 0) nicks.delete(nick);
    if (nicks.size === 0) this.byRoom.delete(room);
  }

  /** The number of nicknames in each room. */
  sizes(): number[] {
    return Array.from(this.byRoom.values(), (nicks) => nicks.size);
  }

  sessionsOf(room: string, nick: string): ReadonlySet<string> | undefined {
    return this.byRoom.get(room)?.get(nick);
  }

  rooms(): IterableIterator<[string, Map<string, Set<string>>]> {
    return this.byRoom.entries();
  }

  clear(): void {
    this.byRoom.clear();
  }
}
