// Voice requests in moderated rooms (XEP-0045 §7.13, §8.6). A visitor sends
// the muc#request form in a message to the room; every moderator gets the
// approval form. A moderator who sends the form back with muc#request_allow
// true grants the visitor voice (role participant, reason "Voice granted").
// As in Prosody, anything else (a request from a participant, a refusal, an
// approval for someone who left or already speaks) is dropped silently.

import { el, type Element } from '../../xml/element.js';
import { formType, readForm, renderForm, type FormField } from '../dataform.js';
import type { RoomFeature } from '../events.js';
import type { Occupant } from '../occupant.js';
import { NOT_IN_ROOM } from '../lifecycle.js';
import type { Room } from '../room.js';
import { errorReply, NS_DATA, NS_MUC_USER } from '../stanzas.js';

const NS_MUC_REQUEST = 'http://jabber.org/protocol/muc#request';

/** The request form; the values of the requester go into `muc#jid` and `muc#roomnick`. */
function requestFields(jid?: string, nick?: string): FormField[] {
  return [
    { var: 'FORM_TYPE', type: 'hidden', value: NS_MUC_REQUEST },
    { var: 'muc#jid', type: 'jid-single', label: 'User ID', desc: "The user's JID (address)", value: jid },
    { var: 'muc#roomnick', type: 'text-single', label: 'Room nickname', desc: "The user's nickname within the room", value: nick },
    {
      var: 'muc#role',
      type: 'list-single',
      label: 'Requested role',
      value: 'participant',
      options: ['none', 'visitor', 'participant', 'moderator'],
    },
    {
      var: 'muc#request_allow',
      type: 'boolean',
      label: 'Grant voice to this person?',
      desc: 'Specify whether this person is able to speak in a moderated room',
      value: false,
    },
  ];
}

function forwardRequest(room: Room, visitor: Occupant, realJid: string): void {
  const form = renderForm({ title: 'Voice Request', fields: requestFields(realJid, visitor.name) });
  room.broadcast(el('message', { type: 'normal', from: room.jid }, form), (occupant) => occupant.role === 'moderator');
}

function answerRequest(room: Room, stanza: Element, form: Element): void {
  const { values } = readForm(requestFields(), form);
  const requester = values.get('muc#jid');
  if (values.get('muc#request_allow') !== true || typeof requester !== 'string') return;
  const visitor = room.occupantByRealJid(requester);
  if (visitor?.role !== 'visitor') return;
  const moderator = stanza.attrs.from as string;
  const refusal = room.setRole(moderator, visitor.nick, 'participant', 'Voice granted');
  if (refusal !== undefined) room.send(errorReply(stanza, refusal), moderator);
}

export const voiceRequests: RoomFeature = (hooks) => {
  hooks.on('disco-info', ({ reply }) => void reply.c('feature', { var: NS_MUC_REQUEST }));

  hooks.on('message-to-room', ({ room, stanza }) => {
    const type = stanza.attrs.type;
    if ((type !== undefined && type !== 'normal') || stanza.getChild('x', NS_MUC_USER) !== undefined) return undefined;
    const form = stanza.getChild('x', NS_DATA);
    if (form === undefined || formType(form) !== NS_MUC_REQUEST) return undefined;
    const from = stanza.attrs.from as string;
    const sender = room.occupantByRealJid(from);
    if (sender === undefined) {
      room.send(errorReply(stanza, { type: 'cancel', condition: 'not-acceptable', text: NOT_IN_ROOM }), from);
    } else if (sender.role === 'moderator') {
      answerRequest(room, stanza, form);
    } else if (sender.role === 'visitor') {
      forwardRequest(room, sender, from);
    }
    return true;
  });
};
