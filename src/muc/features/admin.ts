// The muc#admin queries (XEP-0045 §8, §9): change one affiliation (by bare
// JID, optionally reserving a nickname) or one role (by nickname), and list
// the JIDs of an affiliation or the occupants of a role. The permission rules
// live in the room core (Room.setAffiliation, Room.setRole).

import { jidResource, prepJid } from '../../jid/jid.js';
import type { Element } from '../../xml/element.js';
import type { RoomFeature } from '../events.js';
import type { Room } from '../room.js';
import { AFFILIATION_RANK, isAffiliation, isRole, ROLE_RANK } from '../roles.js';
import { WHOIS } from '../settings.js';
import { errorReply, item, NS_MUC_ADMIN, reply, type StanzaError } from '../stanzas.js';
import { MEMBERS_ONLY } from './members-only.js';

const RESERVED = 'This nickname is reserved';

function answer(room: Room, stanza: Element, error: StanzaError | undefined): true {
  room.send(error === undefined ? reply(stanza) : errorReply(stanza, error), stanza.attrs.from as string);
  return true;
}

function change(room: Room, stanza: Element, query: Element): true {
  const actor = stanza.attrs.from as string;
  const target = query.elements()[0];
  if (target === undefined) return answer(room, stanza, { type: 'cancel', condition: 'bad-request' });
  let jid: string | undefined = target.attrs.jid;
  let nick: string | undefined = target.attrs.nick;
  const affiliation: string | undefined = target.attrs.affiliation;
  const role: string | undefined = target.attrs.role;
  if (jid !== undefined) {
    const prepared = prepJid(jid);
    if (prepared === null) return answer(room, stanza, { type: 'modify', condition: 'jid-malformed' });
    if (jidResource(prepared) !== '') {
      return answer(room, stanza, { type: 'modify', condition: 'jid-malformed', text: 'Bare JID expected, got full JID' });
    }
    jid = prepared;
  }
  if (nick !== undefined) {
    const prepared = prepJid(room.jid + '/' + nick);
    if (prepared === null) return answer(room, stanza, { type: 'modify', condition: 'jid-malformed', text: 'invalid nickname' });
    nick = jidResource(prepared);
  }
  if (jid === undefined && nick !== undefined) {
    // Some clients name the occupant by nickname for an affiliation change.
    jid = room.occupants.get(room.jid + '/' + nick)?.bareJid;
  } else if (role !== undefined && nick === undefined && jid !== undefined) {
    const inRoom = room.nickOf(jid);
    if (inRoom !== undefined) nick = jidResource(inRoom);
  }
  const reason = target.getChildText('reason');

  if (affiliation !== undefined && jid !== undefined && role === undefined) {
    if (!isAffiliation(affiliation)) return answer(room, stanza, { type: 'modify', condition: 'not-acceptable' });
    const refusal = room.affiliationChangeRefusal(actor, jid, affiliation);
    if (refusal !== undefined) return answer(room, stanza, refusal);
    if (nick !== undefined) {
      const holder = room.occupants.get(room.jid + '/' + nick);
      if (holder !== undefined && holder.bareJid !== jid) room.setRole(true, holder.nick, 'none', RESERVED);
    }
    return answer(room, stanza, room.setAffiliation(actor, jid, affiliation, { reason, nick }));
  }
  if (role !== undefined && nick !== undefined && affiliation === undefined) {
    const occupantJid = room.jid + '/' + nick;
    // As in Prosody, an absent occupant is reported before an unknown role.
    if (!room.occupants.has(occupantJid)) return answer(room, stanza, { type: 'modify', condition: 'item-not-found' });
    if (!isRole(role)) return answer(room, stanza, { type: 'modify', condition: 'not-acceptable' });
    return answer(room, stanza, room.setRole(actor, occupantJid, role, reason));
  }
  return answer(room, stanza, { type: 'cancel', condition: 'bad-request' });
}

function list(room: Room, stanza: Element, query: Element): true {
  const actor = stanza.attrs.from as string;
  const listed = query.elements()[0];
  const affiliation: string | undefined = listed?.attrs.affiliation;
  const role: string | undefined = listed?.attrs.role;
  const result = reply(stanza);
  const items = result.c('query', { xmlns: NS_MUC_ADMIN });
  if (isAffiliation(affiliation) && role === undefined) {
    const rank = AFFILIATION_RANK[room.affiliationOf(actor)];
    const allowed =
      (rank >= AFFILIATION_RANK.admin && rank >= AFFILIATION_RANK[affiliation]) ||
      (room.get(MEMBERS_ONLY) && room.get(WHOIS) === 'anyone' && rank >= AFFILIATION_RANK.member);
    if (!allowed) return answer(room, stanza, { type: 'auth', condition: 'forbidden' });
    for (const [jid, entry] of room.affiliations) {
      if (entry.affiliation === affiliation) items.append(item({ affiliation, jid, nick: entry.nick, reason: entry.reason }));
    }
  } else if (isRole(role) && affiliation === undefined) {
    const ownRole = room.occupantByRealJid(actor)?.role ?? room.defaultRole(room.affiliationOf(actor));
    if (ROLE_RANK[ownRole] < ROLE_RANK.moderator) return answer(room, stanza, { type: 'auth', condition: 'forbidden' });
    for (const occupant of room.occupants.values()) {
      if (occupant.role !== role) continue;
      for (const jid of occupant.liveSessions()) {
        items.append(item({ affiliation: room.affiliationOf(occupant.bareJid), role, jid, nick: occupant.name }));
      }
    }
  } else {
    return answer(room, stanza, { type: 'cancel', condition: 'bad-request' });
  }
  room.send(result, actor);
  return true;
}

export const admin: RoomFeature = (hooks) => {
  hooks.on(`iq-set/${NS_MUC_ADMIN}`, ({ room, stanza, query }) => change(room, stanza, query));
  hooks.on(`iq-get/${NS_MUC_ADMIN}`, ({ room, stanza, query }) => list(room, stanza, query));
};
