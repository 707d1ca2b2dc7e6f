// The feature modules a MUC service runs, one file each. Adding a feature is
// adding its file and naming it here; the room core does not change.

import { Hooks } from '../hooks.js';
import type { RoomEvents, RoomFeature, RoomHooks } from '../events.js';
import { admin } from './admin.js';
import { messageArchive } from './archive.js';
import { bans } from './bans.js';
import { configSections } from './config-sections.js';
import { description } from './description.js';
import { disco } from './disco.js';
import { hats } from './hats.js';
import { history } from './history.js';
import { invitations } from './invitations.js';
import { language } from './language.js';
import { lock } from './lock.js';
import { maxUsers } from './max-users.js';
import { membersOnly } from './members-only.js';
import { moderated } from './moderated.js';
import { name } from './name.js';
import { nicknames } from './nicknames.js';
import { occupantIds } from './occupant-id.js';
import { occupantIq } from './occupant-iq.js';
import { owner } from './owner.js';
import { password } from './password.js';
import { persistent } from './persistent.js';
import { presenceBroadcast } from './presence-broadcast.js';
import { privateMessages } from './private-messages.js';
import { publicRooms } from './public.js';
import { registeredNicknames } from './registered-nick.js';
import { registration } from './register.js';
import { roomCreation } from './room-creation.js';
import { subject } from './subject.js';
import { tombstones } from './tombstones.js';
import { voiceRequests } from './voice-requests.js';
import { whois } from './whois.js';

export const FEATURES: readonly RoomFeature[] = [
  roomCreation,
  nicknames,
  bans,
  lock,
  disco,
  owner,
  admin,
  configSections,
  name,
  description,
  language,
  persistent,
  publicRooms,
  password,
  maxUsers,
  membersOnly,
  moderated,
  voiceRequests,
  whois,
  subject,
  history,
  messageArchive,
  presenceBroadcast,
  registration,
  registeredNicknames,
  privateMessages,
  invitations,
  occupantIq,
  occupantIds,
  hats,
  tombstones,
];

/** The room events with every feature hooked in. */
export function createRoomHooks(features: readonly RoomFeature[] = FEATURES): RoomHooks {
  const hooks = new Hooks<RoomEvents>();
  for (const install of features) install(hooks);
  return hooks;
}
