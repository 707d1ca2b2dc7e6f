// The events the room core fires, and what each carries. Feature modules
// (src/muc/features/) hook into these; the names follow Prosody's muc-* events.

import type { Element } from '../xml/element.js';
import type { FormField } from './dataform.js';
import type { Hooks } from './hooks.js';
import type { Occupant } from './occupant.js';
import type { Room } from './room.js';
import type { Affiliation, Role } from './roles.js';
import type { StanzaError } from './stanzas.js';

interface RoomEvent {
  room: Room;
}

interface StanzaEvent extends RoomEvent {
  stanza: Element;
}

/** A handler that answered the stanza itself (an error, say) returns true: the core stops there. */
type Handled = true;

export interface ConfigSubmission extends StanzaEvent {
  actor: string;
  /** Status codes for the message that tells occupants what changed (104, 172, …). */
  statusCodes: Set<string>;
}

export type RoomEvents = {
  /** A presence is creating the room; vetoes creation. */
  'room-pre-create': { event: StanzaEvent; result: Handled };
  'room-created': { event: StanzaEvent & { creator: Occupant }; result: never };
  /** The room was destroyed (its occupants are gone); a handler that turns it into something else keeps it. */
  'room-destroyed': { event: RoomEvent & { reason?: string; alternate?: string }; result: Handled };
  /** Any stanza to the room or its occupants, before the room handles it; a handler may answer it instead. */
  'room-stanza': { event: StanzaEvent; result: Handled };
  /** The role an affiliation gets on entering; the first handler with an answer decides. */
  'default-role': { event: RoomEvent & { affiliation: Affiliation }; result: Role };
  /** A session joins asking for the in-room JID `stanza.attrs.to`; a handler may give it another (status 210). */
  'join-nick': { event: StanzaEvent; result: string };
  'occupant-pre-join': { event: StanzaEvent & { occupant: Occupant; isNewRoom: boolean }; result: Handled };
  'occupant-pre-change': { event: StanzaEvent & { from: Occupant; to: Occupant }; result: Handled };
  'occupant-pre-leave': { event: StanzaEvent & { occupant: Occupant }; result: Handled };
  /** A new nickname is in the room. */
  'occupant-joined': { event: StanzaEvent & { occupant: Occupant }; result: never };
  /** A session entered (joined, or rejoined without leaving); history and subject go to it. */
  'occupant-session-new': { event: StanzaEvent & { occupant: Occupant; jid: string }; result: never };
  'occupant-left': { event: RoomEvent & { occupant: Occupant }; result: never };
  /** A presence the room shows of a user (`bareJid`) is being built; handlers may add payloads. */
  'occupant-presence': { event: StanzaEvent & { bareJid: string }; result: never };
  /** A groupchat message from an occupant allowed to speak; a handler may consume it. */
  'occupant-groupchat': { event: StanzaEvent & { occupant: Occupant }; result: Handled };
  /** A message is going out to every occupant (`stanza` is what they get). */
  'broadcast-message': { event: StanzaEvent; result: never };
  /** A mediated invitation (`stanza`, from the inviter) is asked for; a handler may refuse it. */
  'pre-invite': { event: StanzaEvent; result: Handled };
  /** A mediated invitation is going out: `stanza` is what the invitee gets, `incoming` what the inviter sent. */
  invite: { event: StanzaEvent & { incoming: Element; invitee: string }; result: never };
  /** A message to the room that is not groupchat (invitations, voice requests, …). */
  'message-to-room': { event: StanzaEvent; result: Handled };
  /** A private message or iq to an occupant; `occupant` is the sender, when in the room. */
  'message-to-occupant': { event: StanzaEvent & { sender: Occupant | undefined }; result: Handled };
  'iq-to-occupant': { event: StanzaEvent & { sender: Occupant | undefined }; result: Handled };
  /** A private message is about to be relayed (`stanza` is what the recipient gets). */
  'private-message': { event: StanzaEvent & { sender: Occupant }; result: never };
  /** disco#info of the room: features go into `reply`, room info fields into `form`. */
  'disco-info': { event: StanzaEvent & { reply: Element; form: FormField[] }; result: never };
  [node: `disco-info/${string}`]: { event: StanzaEvent & { reply: Element }; result: never };
  /** Builds the muc#roomconfig form; a field's priority places it in a section (config-sections.ts inSection). */
  'config-form': { event: RoomEvent & { actor: string; fields: FormField[] }; result: never };
  'config-submitted': { event: ConfigSubmission; result: never };
  /** One per submitted field that the form layout knows, with the value read. */
  [field: `config-submitted/${string}`]: { event: ConfigSubmission & { value: unknown }; result: never };
  /** An affiliation is about to change; a handler may refuse it with an error. */
  'pre-set-affiliation': {
    event: RoomEvent & { jid: string; affiliation: Affiliation; previous: Affiliation };
    result: StanzaError;
  };
  'set-affiliation': {
    event: RoomEvent & { jid: string; affiliation: Affiliation; previous: Affiliation; inRoom: boolean };
    result: never;
  };
  /** The room moves to another node of a cluster (transfer.ts): features put what they keep beside the configuration into `features`. */
  'room-export': { event: RoomEvent & { features: Record<string, unknown> }; result: never };
  /** The room arrived from another node, with what the features put into `features` there. */
  'room-import': { event: RoomEvent & { features: Record<string, unknown> }; result: never };
  /** An iq get or set to the room itself, by the namespace of its payload. */
  [iq: `iq-get/${string}` | `iq-set/${string}`]: { event: StanzaEvent & { query: Element }; result: Handled };
};

export type RoomHooks = Hooks<RoomEvents>;

/** A feature module: a function that hooks into the room events. */
export type RoomFeature = (hooks: RoomHooks) => void;
