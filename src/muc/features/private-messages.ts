// Private messages between occupants (XEP-0045 §7.5): relayed from the
// sender's in-room JID to every session of the recipient, with the MUC
// payloads a client could forge replaced by an empty muc#user <x/>.

import type { RoomFeature } from '../events.js';
import { errorReply, NS_MUC_USER, withoutMucPayload } from '../stanzas.js';

export const privateMessages: RoomFeature = (hooks) => {
  hooks.on('message-to-occupant', ({ room, stanza, sender }) => {
    if (sender === undefined) return undefined;
    const recipient = room.occupants.get(stanza.attrs.to as string);
    if (recipient === undefined) {
      const error = { type: 'cancel', condition: 'item-not-found', text: 'Recipient not in room' } as const;
      room.send(errorReply(stanza, error, room.jid), stanza.attrs.from as string);
      return true;
    }
    const message = withoutMucPayload(stanza).setAttr('from', sender.nick);
    message.c('x', { xmlns: NS_MUC_USER });
    room.fire('private-message', { room, stanza: message, sender });
    room.send(message, recipient.liveSessions());
    return true;
  });
};
