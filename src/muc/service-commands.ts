// The service's ad-hoc commands (XEP-0050), as Prosody's mod_muc offers them
// to service admins: "Destroy Rooms" (node http://prosody.im/protocol/muc#destroy)
// shows a form listing every room, destroys the ones picked, and completes
// with a note naming them.

import { randomUUID } from 'node:crypto';
import { el, type Element } from '../xml/element.js';
import { readForm, renderForm, type FormField } from './dataform.js';
import { errorReply, NS_DATA, NS_DISCO_INFO, reply } from './stanzas.js';

export const NS_COMMANDS = 'http://jabber.org/protocol/commands';
const DESTROY_NODE = 'http://prosody.im/protocol/muc#destroy';
const DESTROY_NAME = 'Destroy Rooms';
const NO_PERMISSION = "You don't have permission to execute this command";

/** What the commands need from the service. */
export interface CommandHost {
  readonly domain: string;
  isAdmin(jid: string): boolean;
  /** Every room of the service, live or stored. */
  allRooms(): Promise<string[]>;
  /** Destroys these rooms; resolves with the ones that were destroyed. */
  destroyRooms(rooms: string[]): Promise<string[]>;
  send(stanza: Element, to: string): void;
}

function roomsField(rooms?: string[]): FormField {
  return { var: 'rooms', type: 'list-multi', label: 'Rooms to destroy:', required: true, options: rooms };
}

function destroyForm(rooms?: string[]): { title: string; instructions: string; fields: FormField[] } {
  return {
    title: 'Destroy rooms',
    instructions: 'Select the rooms to destroy',
    fields: [{ var: 'FORM_TYPE', type: 'hidden', value: DESTROY_NODE }, roomsField(rooms)],
  };
}

/**
 * A request to a one-form command, and its answer (`result`, with the
 * `<command/>` to fill in as `body`): cancel; execute, to be answered with the
 * form; or submit, to be answered with a note. No session state is kept.
 */
export type CommandStep = { result: Element; body: Element } & ({ action: 'cancel' | 'execute' } | { action: 'submit'; submitted: Element });

export function commandStep(stanza: Element, command: Element, node: string): CommandStep {
  const sessionid = command.attrs.sessionid ?? randomUUID();
  const answer = (status: string): { result: Element; body: Element } => {
    const result = reply(stanza);
    return { result, body: result.c('command', { xmlns: NS_COMMANDS, node, status, sessionid }) };
  };
  const submitted = command.getChild('x', NS_DATA);
  if (command.attrs.action === 'cancel') return { action: 'cancel', ...answer('canceled') };
  if (submitted === undefined) return { action: 'execute', ...answer('executing') };
  return { action: 'submit', submitted, ...answer('completed') };
}

/** The items of the service's commands node: the commands this user may run. */
export function commandItems(host: CommandHost, from: string, items: Element): void {
  if (host.isAdmin(from)) items.c('item', { jid: host.domain, node: DESTROY_NODE, name: DESTROY_NAME });
}

/** disco#info of a command node; false when the node is not a command. */
export function commandInfo(host: CommandHost, stanza: Element, node: string): boolean {
  const from = stanza.attrs.from as string;
  if (node === NS_COMMANDS) {
    const result = reply(stanza);
    result.c('query', { xmlns: NS_DISCO_INFO, node }).c('identity', {
      category: 'automation',
      type: 'command-list',
      name: 'Ad-Hoc Commands',
    });
    host.send(result, from);
    return true;
  }
  if (node !== DESTROY_NODE) return false;
  if (!host.isAdmin(from)) {
    host.send(errorReply(stanza, { type: 'auth', condition: 'forbidden', text: 'This item is not available to you' }), from);
    return true;
  }
  const result = reply(stanza);
  result
    .c('query', { xmlns: NS_DISCO_INFO, node })
    .append(
      el('identity', { category: 'automation', type: 'command-node', name: DESTROY_NAME }),
      el('feature', { var: NS_COMMANDS }),
      el('feature', { var: NS_DATA }),
    );
  host.send(result, from);
  return true;
}

/** An iq set with a <command/>: runs it, or refuses. */
export async function runCommand(host: CommandHost, stanza: Element, command: Element): Promise<void> {
  const from = stanza.attrs.from as string;
  if (command.attrs.node !== DESTROY_NODE) {
    host.send(errorReply(stanza, { type: 'cancel', condition: 'item-not-found' }), from);
    return;
  }
  if (!host.isAdmin(from)) {
    const refusal = errorReply(stanza, { type: 'auth', condition: 'forbidden', text: NO_PERMISSION });
    refusal.c('command', { xmlns: NS_COMMANDS, node: DESTROY_NODE, status: 'canceled' }).c('note', { type: 'error' }).append(NO_PERMISSION);
    host.send(refusal, from);
    return;
  }
  const step = commandStep(stanza, command, DESTROY_NODE);
  if (step.action === 'execute') {
    step.body.c('actions', { execute: 'complete' }).append(el('next'), el('complete'));
    step.body.append(renderForm(destroyForm((await host.allRooms()).sort())));
  } else if (step.action === 'submit') {
    const form = readForm([roomsField()], step.submitted);
    const [invalid] = form.errors;
    if (invalid !== undefined) {
      step.body.c('note', { type: 'error' }).append(`${invalid[0]}: ${invalid[1]}`);
    } else {
      const destroyed = await host.destroyRooms(form.values.get('rooms') as string[]);
      step.body.c('note', { type: 'info' }).append(['The following rooms were destroyed:', ...destroyed].join('\n'));
    }
  }
  host.send(step.result, from);
}
