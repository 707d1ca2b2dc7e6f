// XEP-0317 hats: roles a room's owners give to users beyond XEP-0045's
// (a "Host", a "Speaker"), shown in the occupant's presence as Prosody's hats
// module shows them. Owners put a hat on an affiliated user with the ad-hoc
// command urn:xmpp:hats:commands:don and take it off with ...:doff (to the
// room JID); the hats are kept with the affiliation (and go with it). A hat
// an occupant claims in its own presence is stripped.

import { bareJid } from '../../jid/jid.js';
import { el, type Element } from '../../xml/element.js';
import { readForm, renderForm, type FormField } from '../dataform.js';
import type { RoomFeature } from '../events.js';
import type { Room } from '../room.js';
import { commandStep, NS_COMMANDS } from '../service-commands.js';
import { errorReply, filterNamespace, mucUserX } from '../stanzas.js';

const NS_HATS = 'urn:xmpp:hats:0';
/** The namespace of Prosody 0.12's hats, stripped from occupants too. */
const NS_PROSODY_HATS = 'xmpp:prosody.im/protocol/hats:1';
const FORM_TYPE = 'urn:xmpp:hats:commands';
const DON = 'urn:xmpp:hats:commands:don';
const DOFF = 'urn:xmpp:hats:commands:doff';

/** A user's hats by URI, kept in the affiliation's data under this key. */
type Hats = Record<string, { title: string }>;
const HATS = 'hats';

function commandForm(node: string): FormField[] {
  const fields: FormField[] = [
    { var: 'FORM_TYPE', type: 'hidden', value: FORM_TYPE },
    { var: 'hats#jid', type: 'jid-single', label: 'User', required: true },
    { var: 'hats#hat', type: 'text-single', label: 'Hat URI', required: true },
  ];
  if (node === DON) fields.push({ var: 'hats#title', type: 'text-single', label: 'Hat title', required: true });
  return fields;
}

/** Puts the hat on or takes it off; the error to note, if any. */
function changeHat(room: Room, node: string, values: Map<string, unknown>): string | undefined {
  const user = bareJid(values.get('hats#jid') as string);
  const uri = values.get('hats#hat') as string;
  const hats: Hats = { ...room.affiliationData<Hats>(user, HATS) };
  if (node === DON) hats[uri] = { title: values.get('hats#title') as string };
  else if (Object.hasOwn(hats, uri)) delete hats[uri];
  else return `${user} does not wear the hat ${uri}`;
  if (!room.setAffiliationData(user, HATS, Object.keys(hats).length > 0 ? hats : undefined)) {
    return `${user} is not affiliated with the room`;
  }
  for (const occupant of [...room.occupants.values()]) if (occupant.bareJid === user) room.publicise(occupant, mucUserX());
  return undefined;
}

function runCommand(room: Room, stanza: Element, command: Element): true | undefined {
  const node = command.attrs.node as string;
  if (node !== DON && node !== DOFF) return undefined;
  const from = stanza.attrs.from as string;
  if (room.affiliationOf(from) !== 'owner') {
    room.send(errorReply(stanza, { type: 'auth', condition: 'forbidden', text: 'Only owners can assign hats' }), from);
    return true;
  }
  const step = commandStep(stanza, command, node);
  if (step.action === 'execute') {
    step.body.c('actions', { execute: 'complete' }).append(el('complete'));
    step.body.append(renderForm({ title: node === DON ? 'Put on a hat' : 'Take off a hat', fields: commandForm(node) }));
  } else if (step.action === 'submit') {
    const form = readForm(commandForm(node), step.submitted);
    const [invalid] = form.errors;
    const error = invalid === undefined ? changeHat(room, node, form.values) : `${invalid[0]}: ${invalid[1]}`;
    step.body.c('note', { type: error === undefined ? 'info' : 'error' }).append(error ?? 'Done');
  }
  room.send(step.result, from);
  return true;
}

export const hats: RoomFeature = (hooks) => {
  filterNamespace(NS_HATS);
  filterNamespace(NS_PROSODY_HATS);

  hooks.on('occupant-presence', ({ room, stanza, bareJid: user }) => {
    const worn = Object.entries(room.affiliationData<Hats>(user, HATS) ?? {});
    if (worn.length > 0) stanza.append(el('hats', { xmlns: NS_HATS }, ...worn.map(([uri, { title }]) => el('hat', { uri, title }))));
  });

  hooks.on(`iq-set/${NS_COMMANDS}`, ({ room, stanza, query }) => runCommand(room, stanza, query));
};
