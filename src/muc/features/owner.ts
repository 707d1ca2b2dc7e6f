// The owner's muc#owner queries (XEP-0045 §10): get the room configuration
// form, submit it (or an empty form, for an instant room), cancel, or destroy
// the room. Every module contributes its fields through 'config-form' and
// applies its submitted value through 'config-submitted/VAR'; the changes are
// announced to the occupants with the status codes the modules collected.

import { prepJid } from '../../jid/jid.js';
import { formType, readForm, renderForm, type FormField } from '../dataform.js';
import type { ConfigSubmission, RoomFeature } from '../events.js';
import type { Room } from '../room.js';
import { el, type Element } from '../../xml/element.js';
import { errorReply, mucUserX, NS_DATA, NS_MUC_OWNER, reply, type StanzaError } from '../stanzas.js';

const ROOMCONFIG = 'http://jabber.org/protocol/muc#roomconfig';

function configForm(room: Room, actor: string): { title: string; instructions: string; fields: FormField[] } {
  const fields: FormField[] = [{ var: 'FORM_TYPE', type: 'hidden', value: ROOMCONFIG }];
  room.fire('config-form', { room, actor, fields });
  return { title: 'Configuration for ' + room.jid, instructions: 'Complete and submit this form to configure the room.', fields };
}

function sendError(room: Room, stanza: Element, error: StanzaError): true {
  room.send(errorReply(stanza, error), stanza.attrs.from as string);
  return true;
}

function submitConfiguration(room: Room, stanza: Element, x: Element): true {
  const actor = stanza.attrs.from as string;
  const submission: ConfigSubmission = { room, stanza, actor, statusCodes: new Set() };
  let values = new Map<string, unknown>();
  if (x.elements().length > 0) {
    if (formType(x) !== ROOMCONFIG) {
      return sendError(room, stanza, { type: 'cancel', condition: 'bad-request', text: 'Form is not of type room configuration' });
    }
    const form = readForm(configForm(room, actor).fields, x);
    const [invalid] = form.errors;
    if (invalid !== undefined) {
      return sendError(room, stanza, { type: 'modify', condition: 'bad-request', text: `${invalid[0]}: ${invalid[1]}` });
    }
    values = form.values;
  }
  room.fire('config-submitted', submission);
  for (const [field, value] of values) room.fire(`config-submitted/${field}`, { ...submission, value });
  room.send(reply(stanza), actor);
  if (submission.statusCodes.size > 0) {
    room.broadcastMessage(el('message', { type: 'groupchat', from: room.jid }, mucUserX(...submission.statusCodes)));
  }
  return true;
}

function destroyRoom(room: Room, stanza: Element, destroy: Element): true {
  const alternate = destroy.attrs.jid;
  if (alternate !== undefined && prepJid(alternate) === null) {
    return sendError(room, stanza, { type: 'modify', condition: 'jid-malformed' });
  }
  room.destroy({ alternate, reason: destroy.getChildText('reason'), password: destroy.getChildText('password') });
  room.send(reply(stanza), stanza.attrs.from as string);
  return true;
}

const ONLY_OWNERS: StanzaError = { type: 'auth', condition: 'forbidden', text: 'Only owners can configure rooms' };

export const owner: RoomFeature = (hooks) => {
  hooks.on(`iq-get/${NS_MUC_OWNER}`, ({ room, stanza }) => {
    const actor = stanza.attrs.from as string;
    if (room.affiliationOf(actor) !== 'owner') return sendError(room, stanza, ONLY_OWNERS);
    const result = reply(stanza);
    result.c('query', { xmlns: NS_MUC_OWNER }).append(renderForm(configForm(room, actor)));
    room.send(result, actor);
    return true;
  });

  hooks.on(`iq-set/${NS_MUC_OWNER}`, ({ room, stanza, query }) => {
    if (room.affiliationOf(stanza.attrs.from as string) !== 'owner') return sendError(room, stanza, ONLY_OWNERS);
    const child = query.elements()[0];
    if (child === undefined) return sendError(room, stanza, { type: 'modify', condition: 'bad-request' });
    if (child.name === 'destroy') return destroyRoom(room, stanza, child);
    if (!child.is('x', NS_DATA)) return sendError(room, stanza, { type: 'cancel', condition: 'service-unavailable' });
    if (child.attrs.type === 'cancel') {
      room.send(reply(stanza), stanza.attrs.from as string);
      return true;
    }
    if (child.attrs.type !== 'submit') {
      return sendError(room, stanza, { type: 'cancel', condition: 'bad-request', text: 'Not a submitted form' });
    }
    return submitConfiguration(room, stanza, child);
  });
};
