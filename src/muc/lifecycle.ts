// What a room does with each inbound stanza: the join, presence update, nick
// change and leave sequences (in Prosody's order of stanzas), presence probes,
// groupchat messages, and the dispatch of everything else to the feature
// modules through the room events. A handler returns false when nothing
// handled the stanza; the caller then answers service-unavailable, as
// Prosody's router does for unhandled stanzas.

import { randomUUID } from 'node:crypto';
import { bareJid, jidResource } from '../jid/jid.js';
import { el, type Element } from '../xml/element.js';
import type { Occupant } from './occupant.js';
import type { Room } from './room.js';
import { ROLE_RANK } from './roles.js';
import { WHOIS } from './settings.js';
import { errorReply, item, mucUserX, NS_MUC, NS_MUC_USER, NS_STANZAS } from './stanzas.js';

export const NOT_IN_ROOM = 'You are not currently connected to this chat';

/** Handles a stanza addressed to an existing room or one of its occupants. */
export function handleRoomStanza(room: Room, stanza: Element): boolean {
  if (room.fire('room-stanza', { room, stanza })) return true;
  // A handler may end the room instead (an expired tombstone): the stanza is not the room's any more.
  if (room.destroyed) return false;
  const toOccupant = jidResource(stanza.attrs.to ?? '') !== '';
  switch (stanza.name) {
    case 'presence':
      return toOccupant ? presenceToOccupant(room, stanza) : presenceToRoom(room, stanza);
    case 'message':
      return toOccupant ? messageToOccupant(room, stanza) : messageToRoom(room, stanza);
    case 'iq':
      return toOccupant ? iqToOccupant(room, stanza) : iqToRoom(room, stanza);
    default:
      return false;
  }
}

/** The presence that creates a room: its sender becomes the owner of a new, locked room (201). */
export function handleFirstPresence(room: Room, stanza: Element): void {
  const realJid = stanza.attrs.from as string;
  if (room.fire('room-pre-create', { room, stanza })) return;
  room.setAffiliation(true, bareJid(realJid), 'owner');
  const occupant = room.newOccupant(bareJid(realJid), stanza.attrs.to as string);
  if (room.fire('occupant-pre-join', { room, stanza, occupant, isNewRoom: true })) return;
  occupant.setSession(realJid, stanza);
  const x = mucUserX('201');
  if (room.get(WHOIS) === 'anyone') x.c('status', { code: '100' });
  room.saveOccupant(occupant);
  room.publicise(occupant, x);
  room.fire('occupant-joined', { room, stanza, occupant });
  room.fire('occupant-session-new', { room, stanza, occupant, jid: realJid });
  room.fire('room-created', { room, stanza, creator: occupant });
}

function presenceToOccupant(room: Room, stanza: Element): boolean {
  const type = stanza.attrs.type;
  if (type === 'error') {
    kickForError(room, stanza);
  } else if (type === undefined || type === 'unavailable' || type === 'probe') {
    normalPresence(room, stanza);
  } else if (type !== 'visible' && type !== 'invisible') {
    // Subscriptions and the like mean nothing to an occupant; ejabberd's XEP-0018 types are ignored.
    room.send(errorReply(stanza, { type: 'modify', condition: 'bad-request' }, room.jid), stanza.attrs.from as string);
  }
  return true;
}

/** Some clients send presence updates to the bare room JID; treat them as sent to their nickname. */
function presenceToRoom(room: Room, stanza: Element): boolean {
  const nick = room.nickOf(stanza.attrs.from as string);
  if (nick === undefined) return false;
  const to = stanza.attrs.to;
  stanza.setAttr('to', nick);
  presenceToOccupant(room, stanza);
  stanza.setAttr('to', to);
  return true;
}

function normalPresence(room: Room, stanza: Element): void {
  const type = stanza.attrs.type;
  const realJid = stanza.attrs.from as string;
  const bare = bareJid(realJid);
  const current = room.occupantByRealJid(realJid);
  const mucX = stanza.getChild('x', NS_MUC);
  // The room may give a joining session another nickname than the one it asked for (status 210).
  const joins = current === undefined && mucX !== undefined && type === undefined;
  const assigned = joins ? room.fire('join-nick', { room, stanza }) : undefined;
  if (assigned !== undefined) stanza.setAttr('to', assigned);
  const to = stanza.attrs.to as string;

  if (current === undefined && mucX === undefined && type === undefined) {
    room.send(errorReply(stanza, { type: 'cancel', condition: 'item-not-found', text: NOT_IN_ROOM }, room.jid), realJid);
    return;
  }
  if (type === 'probe') {
    answerProbe(room, stanza, current);
    return;
  }
  if (type === 'unavailable' && current === undefined) return;

  let target: Occupant | undefined;
  let isFirstTargetSession = false;
  if (type === 'unavailable') {
    target = undefined;
  } else if (current !== undefined && current.nick === to) {
    target = current;
  } else {
    target = room.occupants.get(to);
    if (target === undefined) {
      isFirstTargetSession = true;
      target = room.newOccupant(bare, to);
      if (current !== undefined) target.role = current.role;
    }
  }
  const isLastSession = current !== undefined && current.liveSessions().length <= 1;

  const vetoed =
    current === undefined
      ? room.fire('occupant-pre-join', { room, stanza, occupant: target as Occupant, isNewRoom: false })
      : target === undefined
        ? room.fire('occupant-pre-leave', { room, stanza, occupant: current })
        : room.fire('occupant-pre-change', { room, stanza, from: current, to: target });
  if (vetoed) return;

  if (target !== undefined && !isFirstTargetSession && bare !== target.bareJid) {
    room.send(errorReply(stanza, { type: 'cancel', condition: 'conflict' }, room.jid), realJid);
    return;
  }

  if (current !== undefined && current !== target) {
    leaveOrMove(room, stanza, current, target, isFirstTargetSession, isLastSession);
  }
  if (target !== undefined) {
    enter(room, stanza, current, target, isFirstTargetSession, isLastSession, mucX !== undefined, assigned !== undefined);
  }
}

/** The session leaves `current`: for good (target undefined) or for another nickname. */
function leaveOrMove(
  room: Room,
  stanza: Element,
  current: Occupant,
  target: Occupant | undefined,
  isFirstTargetSession: boolean,
  isLastSession: boolean,
): void {
  const realJid = stanza.attrs.from as string;
  const x = mucUserX();
  const prevRole = current.role;
  let newNick: string | undefined;
  if (target === undefined) {
    if (isLastSession) current.role = 'none';
    current.setSession(realJid, stanza);
  } else {
    const leaving = el('presence', { from: current.nick, type: 'unavailable' });
    current.setSession(realJid, leaving);
    newNick = target.name;
    if (!isFirstTargetSession) {
      // Joining a nickname the same user already holds from another session: show that one leaving first.
      room.send(
        el(
          'presence',
          { from: target.nick, type: 'unavailable' },
          el('status', {}, 'you are joining pre-existing session ' + newNick),
          el('x', { xmlns: NS_MUC_USER }, item({ affiliation: room.affiliationOf(realJid), role: 'none' })),
        ),
        realJid,
      );
    }
    if (isFirstTargetSession && isLastSession) {
      x.c('status', { code: '303' });
    } else {
      // Other sessions stay under the old nickname: only this session sees itself change nick.
      current.removeSession(realJid);
      const own = mucUserX();
      own.append(item({ affiliation: room.affiliationOf(realJid), role: current.role, jid: realJid, nick: newNick }));
      own.c('status', { code: '303' });
      own.c('status', { code: '110' });
      room.send(leaving.clone().append(own), realJid);
      newNick = undefined;
    }
  }
  room.saveOccupant(current);
  room.publicise(current, x, { nick: newNick, prevRole });
  if (isLastSession) room.fire('occupant-left', { room, occupant: current });
}

/** The session enters (or updates its presence in) `target`. */
function enter(
  room: Room,
  stanza: Element,
  current: Occupant | undefined,
  target: Occupant,
  isFirstTargetSession: boolean,
  isLastSession: boolean,
  hasMucX: boolean,
  renamed: boolean,
): void {
  const realJid = stanza.attrs.from as string;
  target.setSession(realJid, stanza);
  room.saveOccupant(target);
  const joining = current === undefined || hasMucX;
  if (joining) {
    room.sendOccupantList(realJid, (occupant) => occupant === undefined || occupant.presence(realJid) === undefined);
  }
  const selfX = mucUserX();
  if (current === undefined && room.get(WHOIS) === 'anyone') selfX.c('status', { code: '100' });
  if (renamed) selfX.c('status', { code: '210' });
  room.publicise(target, { base: mucUserX(), self: selfX }, { prevRole: current?.role });

  if (current !== undefined && current !== target && !isLastSession) {
    // The session split from a nickname its other sessions keep: show it that nickname again.
    const presence = current.presence();
    if (presence !== undefined) {
      const x = el('x', { xmlns: NS_MUC_USER });
      for (const jid of current.sessions.keys()) {
        x.append(item({ affiliation: room.affiliationOf(current.bareJid), role: current.role, jid }));
      }
      room.send(presence.clone().append(x), realJid);
    }
  }
  if (joining) {
    if (isFirstTargetSession) room.fire('occupant-joined', { room, stanza, occupant: target });
    room.fire('occupant-session-new', { room, stanza, occupant: target, jid: realJid });
  }
}

/**
 * A probe gets the probed occupant's presence as the prober may see it, or for
 * an absent user with that reserved nickname, an unavailable presence; only
 * occupants may probe.
 */
function answerProbe(room: Room, stanza: Element, prober: Occupant | undefined): void {
  const realJid = stanza.attrs.from as string;
  const to = stanza.attrs.to as string;
  if (prober === undefined) {
    room.send(errorReply(stanza, { type: 'cancel', condition: 'not-acceptable', text: NOT_IN_ROOM }, room.jid), realJid);
    return;
  }
  const probed = room.occupants.get(to);
  if (probed !== undefined) {
    room.publicise(probed, mucUserX(), { recipient: prober });
    return;
  }
  const absent = room.absentPresence(jidResource(to), realJid);
  if (absent !== undefined) room.send(absent, realJid);
}

/**
 * A session answered the room with an error: it is gone (status 333). Prosody
 * treats the error as the session's leave presence.
 */
function kickForError(room: Room, stanza: Element): boolean {
  const realJid = stanza.attrs.from as string;
  const occupant = room.occupantByRealJid(realJid);
  if (occupant === undefined) return false;
  const { condition, text } = errorOf(stanza);
  let status = 'Kicked: ' + (condition?.replace(/-/g, ' ') ?? 'presence error');
  // The client's own words are shown only where the room shows real JIDs anyway.
  if (text !== undefined && room.get(WHOIS) === 'anyone') status += ': ' + text;
  occupant.setSession(realJid, el('presence', { type: 'unavailable' }, el('status', {}, status)));
  const prevRole = occupant.role;
  const isLastSession = occupant.liveSessions().length === 0;
  if (isLastSession) occupant.role = 'none';
  room.saveOccupant(occupant);
  room.publicise(occupant, isLastSession ? mucUserX('333') : mucUserX(), { prevRole });
  if (isLastSession) room.fire('occupant-left', { room, occupant });
  return true;
}

/** Errors a room treats as "this session is gone" (Prosody's kickable conditions). */
const KICKABLE_CONDITIONS = new Set([
  'gone',
  'internal-server-error',
  'item-not-found',
  'jid-malformed',
  'recipient-unavailable',
  'redirect',
  'remote-server-not-found',
  'remote-server-timeout',
  'service-unavailable',
]);

/** The defined condition and text of an error stanza, as util.stanza's get_error reads them. */
function errorOf(stanza: Element): { condition?: string; text?: string } {
  const error = stanza.getChild('error');
  const condition = error?.elements().find((child) => child.name !== 'text' && child.attrs.xmlns === NS_STANZAS)?.name;
  return { condition, text: error?.getChildText('text', NS_STANZAS) };
}

function isKickableError(stanza: Element): boolean {
  const { condition } = errorOf(stanza);
  return condition === undefined || KICKABLE_CONDITIONS.has(condition);
}

function messageToRoom(room: Room, stanza: Element): boolean {
  const type = stanza.attrs.type;
  if (type === 'groupchat') {
    groupchat(room, stanza);
    return true;
  }
  if (type === 'error') return isKickableError(stanza) && kickForError(room, stanza);
  return room.fire('message-to-room', { room, stanza }) === true;
}

function groupchat(room: Room, stanza: Element): void {
  const realJid = stanza.attrs.from as string;
  const occupant = room.occupantByRealJid(realJid);
  const rank = ROLE_RANK[occupant?.role ?? 'none'];
  if (occupant === undefined || rank <= ROLE_RANK.none) {
    room.send(errorReply(stanza, { type: 'cancel', condition: 'not-acceptable', text: NOT_IN_ROOM }), realJid);
    return;
  }
  if (rank <= ROLE_RANK.visitor) {
    room.send(
      errorReply(stanza, { type: 'auth', condition: 'forbidden', text: 'You do not currently have permission to speak in this chat' }),
      realJid,
    );
    return;
  }
  const message = stanza.clone();
  message.attrs.id ??= randomUUID();
  if (room.fire('occupant-groupchat', { room, stanza: message, occupant })) return;
  message.setAttr('from', occupant.nick).setAttr('to', undefined);
  room.broadcastMessage(message);
}

function messageToOccupant(room: Room, stanza: Element): boolean {
  const realJid = stanza.attrs.from as string;
  const sender = room.occupantByRealJid(realJid);
  const type = stanza.attrs.type;
  // A bounce kicks its sender; another error goes on like a private message, as in Prosody.
  if (type === 'error' && (sender === undefined || isKickableError(stanza))) {
    if (sender !== undefined) kickForError(room, stanza);
    return true;
  }
  if (sender === undefined) {
    room.send(errorReply(stanza, { type: 'cancel', condition: 'not-acceptable', text: NOT_IN_ROOM }, room.jid), realJid);
    return true;
  }
  if (type === 'groupchat') {
    room.send(errorReply(stanza, { type: 'modify', condition: 'bad-request' }, room.jid), realJid);
    return true;
  }
  return room.fire('message-to-occupant', { room, stanza, sender }) === true;
}

function iqToOccupant(room: Room, stanza: Element): boolean {
  const sender = room.occupantByRealJid(stanza.attrs.from as string);
  return room.fire('iq-to-occupant', { room, stanza, sender }) === true;
}

function iqToRoom(room: Room, stanza: Element): boolean {
  const type = stanza.attrs.type;
  if (type === 'result' || type === 'error') return true;
  const query = stanza.elements()[0];
  if ((type !== 'get' && type !== 'set') || query === undefined) {
    room.send(errorReply(stanza, { type: 'modify', condition: 'bad-request' }), stanza.attrs.from as string);
    return true;
  }
  return room.fire(`iq-${type}/${query.attrs.xmlns ?? ''}`, { room, stanza, query }) === true;
}
