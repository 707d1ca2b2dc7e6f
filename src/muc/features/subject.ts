// The room subject (XEP-0045 §8.1): sent to every session that enters (an
// empty <subject/> from the room when none was ever set), changed by moderators, or by anyone
// with a voice when the room allows it. As in Prosody, a groupchat message
// with a subject and no body or thread is only a subject change. A subject
// longer than muc.max_subject_length characters is refused (not-acceptable).

import { el, type Element } from '../../xml/element.js';
import type { RoomFeature } from '../events.js';
import type { Room } from '../room.js';
import { ROLE_RANK } from '../roles.js';
import { defineSetting } from '../settings.js';
import { errorReply, NS_DELAY, type StanzaError } from '../stanzas.js';
import { configField, FLAG } from './config-field.js';
import { timestamp } from './history.js';
import { inSection } from './config-sections.js';

interface Subject {
  text: string;
  /** Who set it: an in-room JID, or the room. */
  from: string;
  /** When (epoch ms). */
  at: number;
}

const SUBJECT = defineSetting<Subject | undefined>('subject', undefined);
const CHANGE_SUBJECT = defineSetting<boolean>('changesubject', false);

function subjectMessage(from: string, text: string): Element {
  return el('message', { from, type: 'groupchat' }, el('subject', {}, text));
}

/**
 * As Prosody, clearing the subject keeps who cleared it and when (a joiner
 * gets an empty <subject/> from them), and setting the same subject again
 * from the same nickname announces nothing.
 */
function setSubject(room: Room, from: string, text: string): void {
  const current = room.get(SUBJECT);
  if (current !== undefined && current.text === text && current.from === from) return;
  room.set(SUBJECT, { text, from, at: Date.now() });
  room.broadcastMessage(subjectMessage(from, text));
}

export const subject: RoomFeature = (hooks) => {
  hooks.on(
    'occupant-session-new',
    ({ room, jid }) => {
      const current = room.get(SUBJECT);
      const message = subjectMessage(current?.from ?? room.jid, current?.text ?? '');
      if (current !== undefined) message.c('delay', { xmlns: NS_DELAY, from: room.jid, stamp: timestamp(current.at) });
      room.send(message, jid);
    },
    20,
  );

  hooks.on(
    'occupant-groupchat',
    ({ room, stanza, occupant }) => {
      const change = stanza.getChild('subject');
      if (change === undefined || stanza.getChild('body') !== undefined || stanza.getChild('thread') !== undefined) return undefined;
      const rank = ROLE_RANK[occupant.role];
      const { maxSubjectLength } = room.limits;
      let error: StanzaError | undefined;
      if (rank < ROLE_RANK.participant || (rank < ROLE_RANK.moderator && !room.get(CHANGE_SUBJECT))) {
        error = { type: 'auth', condition: 'forbidden', text: 'You are not allowed to change the subject' };
      } else if (change.text().length > maxSubjectLength) {
        error = { type: 'modify', condition: 'not-acceptable', text: `Subjects are limited to ${maxSubjectLength} characters` };
      }
      if (error === undefined) setSubject(room, occupant.nick, change.text());
      else room.send(errorReply(stanza, error), stanza.attrs.from as string);
      return true;
    },
    20,
  );

  hooks.on('disco-info', ({ room, form }) => {
    form.push({ var: 'muc#roomconfig_changesubject', type: 'boolean', value: room.get(CHANGE_SUBJECT) });
  });
  const field = {
    var: 'muc#roomconfig_changesubject',
    type: 'boolean',
    label: "Allow anyone to set the room's subject",
    desc: "Choose whether anyone, or only moderators, may set the room's subject",
  } as const;
  configField(hooks, CHANGE_SUBJECT, field, inSection('permissions', 1), FLAG);
};
