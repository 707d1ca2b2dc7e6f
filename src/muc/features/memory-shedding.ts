// While the shard's heap is over its budget (muc.heap_budget_mb), no room is
// created: the join that would create one gets resource-constraint, so a
// shard short of memory sheds load instead of dying. (History, the other
// thing a user can grow, stops growing then: see history.ts.)

import type { RoomFeature } from '../events.js';
import { errorReply } from '../stanzas.js';

export const memoryShedding: RoomFeature = (hooks) => {
  hooks.on(
    'room-pre-create',
    ({ room, stanza }) => {
      if (!room.limits.memoryShort()) return undefined;
      const error = { type: 'wait', condition: 'resource-constraint', text: 'The service is short of memory: no new rooms for now' } as const;
      room.send(errorReply(stanza, error, room.jid), stanza.attrs.from as string);
      return true;
    },
    100,
  );
};
