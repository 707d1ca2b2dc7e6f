// Service discovery on a room (XEP-0030, XEP-0045 §6.4): disco#info gathers
// identity, features and the muc#roominfo form from every module through the
// 'disco-info' event; a query with a node fires 'disco-info/NODE' instead.
// disco#items lists nothing, as in Prosody.

import type { RoomFeature } from '../events.js';
import { renderForm, type FormField } from '../dataform.js';
import { NS_DISCO_INFO, NS_DISCO_ITEMS, NS_MUC, reply } from '../stanzas.js';

export const disco: RoomFeature = (hooks) => {
  hooks.on(`iq-get/${NS_DISCO_INFO}`, ({ room, stanza, query }) => {
    const node = query.attrs.node || undefined;
    const result = reply(stanza);
    const info = result.c('query', { xmlns: NS_DISCO_INFO, node });
    if (node !== undefined) {
      room.fire(`disco-info/${node}`, { room, stanza, reply: info });
    } else {
      const form: FormField[] = [
        { var: 'FORM_TYPE', type: 'hidden', value: 'http://jabber.org/protocol/muc#roominfo' },
        { var: 'muc#roominfo_occupants', type: 'text-single', label: 'Number of occupants', value: String(room.occupants.size) },
      ];
      room.fire('disco-info', { room, stanza, reply: info, form });
      info.append(renderForm({ fields: form }, 'result'));
    }
    room.send(result, stanza.attrs.from as string);
    return true;
  });

  hooks.on('disco-info', ({ reply: info }) => {
    info.c('feature', { var: NS_MUC });
    info.c('feature', { var: 'http://jabber.org/protocol/muc#stable_id' });
  });

  hooks.on(`iq-get/${NS_DISCO_ITEMS}`, ({ room, stanza }) => {
    const result = reply(stanza);
    result.c('query', { xmlns: NS_DISCO_ITEMS });
    room.send(result, stanza.attrs.from as string);
    return true;
  });
};
