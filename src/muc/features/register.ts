// Room registration (XEP-0045 §7.10) and reserved nicknames (§7.12, §15.5.5).
// A registration is a member affiliation (or the user's existing higher one)
// with a reserved nickname. Only affiliated users may register. A reserved
// nickname keeps others out (conflict), and `x-roomuser-item` tells a user
// the nickname reserved for them.

import { bareJid, jidResource, prepNickname } from '../../jid/jid.js';
import type { Element } from '../../xml/element.js';
import { formType, readForm, renderForm, type FormField } from '../dataform.js';
import type { RoomFeature } from '../events.js';
import type { Occupant } from '../occupant.js';
import type { Room } from '../room.js';
import { errorReply, NS_DATA, NS_REGISTER, reply, type StanzaError } from '../stanzas.js';

const FORM_TYPE = 'http://jabber.org/protocol/muc#register';
const NICK_FIELD = 'muc#register_roomnick';

const REGISTRATION_FORM: FormField[] = [
  { var: 'FORM_TYPE', type: 'hidden', value: FORM_TYPE },
  { var: NICK_FIELD, type: 'text-single', label: 'Nickname', required: true },
];

function sendError(room: Room, stanza: Element, error: StanzaError): true {
  room.send(errorReply(stanza, error), stanza.attrs.from as string);
  return true;
}

/** Who may register: affiliated users; outcasts get forbidden, the unaffiliated registration-required. */
function registrationRefusal(room: Room, user: string): StanzaError | undefined {
  const affiliation = room.affiliationOf(user);
  if (affiliation === 'outcast') return { type: 'auth', condition: 'forbidden' };
  if (affiliation === 'none') return { type: 'auth', condition: 'registration-required' };
  return undefined;
}

function registrationForm(room: Room, stanza: Element): true {
  const user = bareJid(stanza.attrs.from as string);
  const refusal = registrationRefusal(room, user);
  if (refusal !== undefined) return sendError(room, stanza, refusal);
  const result = reply(stanza);
  const query = result.c('query', { xmlns: NS_REGISTER });
  const nick = room.registeredNick(user);
  if (nick !== undefined) {
    query.c('registered');
    query.c('username').append(nick);
  } else {
    query.append(renderForm({ fields: REGISTRATION_FORM }));
  }
  room.send(result, stanza.attrs.from as string);
  return true;
}

function register(room: Room, stanza: Element, query: Element): true {
  const user = bareJid(stanza.attrs.from as string);
  const refusal = registrationRefusal(room, user);
  if (refusal !== undefined) return sendError(room, stanza, refusal);
  const affiliation = room.affiliationOf(user);

  if (query.getChild('remove') !== undefined) {
    // Unregistering drops membership, but not a higher affiliation.
    const error = room.setAffiliation(true, user, affiliation === 'member' ? 'none' : affiliation, { nick: null });
    return error === undefined ? sendResult(room, stanza) : sendError(room, stanza, error);
  }

  const x = query.getChild('x', NS_DATA);
  if (x === undefined) return sendError(room, stanza, { type: 'modify', condition: 'bad-request', text: 'Missing dataform' });
  if (formType(x) !== FORM_TYPE) return sendError(room, stanza, { type: 'modify', condition: 'bad-request', text: 'Error in form' });
  const submitted = readForm(REGISTRATION_FORM, x).values.get(NICK_FIELD);
  const nick = typeof submitted === 'string' ? prepNickname(submitted) : null;
  if (nick === null) return sendError(room, stanza, { type: 'modify', condition: 'bad-request', text: 'Invalid Nickname' });

  const holder: Occupant | undefined = room.occupants.get(room.jid + '/' + nick);
  const reservedBy = room.registeredJid(nick);
  if ((holder !== undefined && holder.bareJid !== user) || (reservedBy !== undefined && reservedBy !== user)) {
    return sendError(room, stanza, { type: 'cancel', condition: 'conflict' });
  }
  if (room.registeredNick(user) !== nick) {
    const error = room.setAffiliation(true, user, affiliation, { nick });
    if (error !== undefined) return sendError(room, stanza, error);
  }
  return sendResult(room, stanza);
}

function sendResult(room: Room, stanza: Element): true {
  room.send(reply(stanza), stanza.attrs.from as string);
  return true;
}

export const registration: RoomFeature = (hooks) => {
  hooks.on(`iq-get/${NS_REGISTER}`, ({ room, stanza }) => registrationForm(room, stanza));
  hooks.on(`iq-set/${NS_REGISTER}`, ({ room, stanza, query }) => register(room, stanza, query));

  hooks.on('disco-info', ({ reply: info }) => void info.c('feature', { var: NS_REGISTER }));

  hooks.on('disco-info/x-roomuser-item', ({ room, stanza, reply: info }) => {
    const nick = room.registeredNick(bareJid(stanza.attrs.from as string));
    if (nick !== undefined) info.c('identity', { category: 'conference', type: 'text', name: nick });
  });

  const refuseReservedNick = (room: Room, stanza: Element): true | undefined => {
    const from = stanza.attrs.from as string;
    const reservedBy = room.registeredJid(jidResource(stanza.attrs.to as string));
    if (reservedBy === undefined || reservedBy === bareJid(from)) return undefined;
    room.send(errorReply(stanza, { type: 'cancel', condition: 'conflict' }, room.jid), from);
    return true;
  };
  hooks.on('occupant-pre-join', ({ room, stanza }) => refuseReservedNick(room, stanza));
  hooks.on('occupant-pre-change', ({ room, stanza }) => refuseReservedNick(room, stanza));
};
