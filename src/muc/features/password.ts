// Password-protected rooms: entry needs the password in the join's MUC <x/>.
// The creator may set it in the very presence that creates the room, and
// invitations carry it.

import type { RoomFeature } from '../events.js';
import { defineSetting } from '../settings.js';
import { errorReply, NS_MUC, NS_MUC_USER } from '../stanzas.js';
import { configField, TEXT } from './config-field.js';
import { inSection } from './config-sections.js';

export const PASSWORD = defineSetting<string | undefined>('password', undefined);

const PASSWORD_REQUIRED = 'A password is required to enter this room';

export const password: RoomFeature = (hooks) => {
  hooks.on('disco-info', ({ room, reply }) => {
    reply.c('feature', { var: room.get(PASSWORD) === undefined ? 'muc_unsecured' : 'muc_passwordprotected' });
  });
  configField(hooks, PASSWORD, { var: 'muc#roomconfig_roomsecret', type: 'text-private', label: 'Password' }, inSection('access', 2), TEXT);
  hooks.on('invite', ({ room, stanza }) => {
    const secret = room.get(PASSWORD);
    if (secret !== undefined) stanza.getChild('x', NS_MUC_USER)?.c('password').append(secret);
  });
  hooks.on('room-pre-create', ({ room, stanza }) => {
    const given = stanza.getChild('x', NS_MUC)?.getChildText('password');
    room.set(PASSWORD, given || undefined);
  });
  hooks.on(
    'occupant-pre-join',
    ({ room, stanza }) => {
      const expected = room.get(PASSWORD);
      const mucX = stanza.getChild('x', NS_MUC);
      if (expected === undefined || mucX === undefined) return undefined;
      if ((mucX.getChildText('password') || undefined) === expected) return undefined;
      const error = { type: 'auth', condition: 'not-authorized', text: PASSWORD_REQUIRED } as const;
      room.send(errorReply(stanza, error, room.jid), stanza.attrs.from as string);
      return true;
    },
    -20,
  );
};
