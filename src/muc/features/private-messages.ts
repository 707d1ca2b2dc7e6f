// Private messages between occupants (XEP-0045 §7.5): relayed from the
// sender's in-room JID to every session of the recipient, with the MUC
// payloads a client could forge replaced by an empty muc#user <x/>. The owner
// chooses who may send them (`muc#roomconfig_allowpm`, as Prosody 13): anyone,
// participants, moderators or no one; a message to oneself or to a moderator
// always goes through.

import type { RoomFeature } from '../events.js';
import type { Occupant } from '../occupant.js';
import { ROLE_RANK } from '../roles.js';
import { defineSetting } from '../settings.js';
import { errorReply, NS_MUC_USER, withoutMucPayload } from '../stanzas.js';
import { configField } from './config-field.js';
import { inSection } from './config-sections.js';

type AllowPm = 'anyone' | 'participants' | 'moderators' | 'none';

const ALLOW_PM = defineSetting<AllowPm>('allow_pm', 'anyone');

/** Per setting: the role a sender needs, and how the refusal names who may not. */
const POLICIES: Record<AllowPm, { minimum: number; refused: string }> = {
  anyone: { minimum: ROLE_RANK.visitor, refused: '' },
  participants: { minimum: ROLE_RANK.participant, refused: 'from guests' },
  moderators: { minimum: ROLE_RANK.moderator, refused: 'from non-moderators' },
  none: { minimum: Infinity, refused: 'in this group' },
};

function mayMessage(policy: AllowPm, sender: Occupant, recipient: Occupant): boolean {
  if (sender.bareJid === recipient.bareJid || recipient.role === 'moderator') return true;
  return ROLE_RANK[sender.role] >= POLICIES[policy].minimum;
}

export const privateMessages: RoomFeature = (hooks) => {
  hooks.on('message-to-occupant', ({ room, stanza, sender }) => {
    if (sender === undefined) return undefined;
    const from = stanza.attrs.from as string;
    const recipient = room.occupants.get(stanza.attrs.to as string);
    if (recipient === undefined) {
      const error = { type: 'cancel', condition: 'item-not-found', text: 'Recipient not in room' } as const;
      room.send(errorReply(stanza, error, room.jid), from);
      return true;
    }
    const policy = room.get(ALLOW_PM);
    if (!mayMessage(policy, sender, recipient)) {
      const text = 'Private messages are restricted ' + POLICIES[policy].refused;
      room.send(errorReply(stanza, { type: 'cancel', condition: 'policy-violation', text }, room.jid), from);
      return true;
    }
    const message = withoutMucPayload(stanza).setAttr('from', sender.nick);
    message.c('x', { xmlns: NS_MUC_USER });
    room.fire('private-message', { room, stanza: message, sender });
    room.send(message, recipient.liveSessions());
    return true;
  });

  const options = [
    { value: 'anyone', label: 'Everyone' },
    { value: 'participants', label: 'Participants' },
    { value: 'moderators', label: 'Moderators' },
    { value: 'none', label: 'No one' },
  ];
  const field = { var: 'muc#roomconfig_allowpm', type: 'list-single', label: 'Allow private messages from', options } as const;
  // The form only lets through values among the options, or none (the default).
  configField(hooks, ALLOW_PM, field, inSection('other', 8), { show: (value) => value, read: (submitted) => (submitted || ALLOW_PM.defaultValue) as AllowPm });
};
