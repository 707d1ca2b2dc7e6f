// Personal eventing (XEP-0163): each account is a small pubsub service whose
// nodes are created by publishing to them. It is what XEP-0402 bookmarks
// (with autojoin), XEP-0084 avatars and XEP-0172 nicknames are kept in.
//
// Who is notified follows XEP-0163 §4.3: the sessions that advertise
// NODE+notify in their entity capabilities (XEP-0115), of the owner and,
// for nodes whose access model lets them see it, of its contacts. A
// session's capabilities are asked of it (disco#info) when it becomes
// available; the answer is kept for that session only, so one client
// cannot make another's capabilities claim what they do not.
//
// The owner manages its nodes as XEP-0060 §8 has it, as far as clients use
// it: configure (access model, max items), delete and purge. Items are
// always persistent.

import { randomUUID } from 'node:crypto';
import type { BoundSession } from '../frontend/sessions.js';
import { Element, el } from '../xml/element.js';
import type { AccountContext, IqAnswer, IqRequest } from './services.js';
import { BY_ACCOUNT_RANGE } from './stored-data.js';
import { NS_PUBSUB as NS, NS_DISCO_INFO as DISCO_INFO_NS, NS_DATA as DATA_NS } from '../xmpp/namespaces.js';

const OWNER_NS = 'http://jabber.org/protocol/pubsub#owner';
const NODE_CONFIG_NS = 'http://jabber.org/protocol/pubsub#node_config';
const EVENT_NS = 'http://jabber.org/protocol/pubsub#event';
const ERRORS_NS = 'http://jabber.org/protocol/pubsub#errors';
const CAPS_NS = 'http://jabber.org/protocol/caps';
/** Prosody's pep_max_items; a node keeps at most this many items, and "max" means this. */
const MAX_ITEMS = 256;
/** Nodes per account: enough for every XEP clients use, not a store without end. */
const MAX_NODES = 100;

type AccessModel = 'presence' | 'open' | 'whitelist';

interface PepNode {
  access: AccessModel;
  maxItems: number;
  /** Oldest first. */
  items: { id: string; payload: Element }[];
}

export default function pep({ services, database, sessions, settings }: AccountContext): void {
  const nodes = database.openDB<PepNode, [string, string]>({ name: BY_ACCOUNT_RANGE.pep });
  /** The nodes each session wants notifications of (its +notify features), once it has said. */
  const interests = new WeakMap<BoundSession, Set<string>>();
  /** The capabilities (node#ver) each session last advertised. */
  const advertised = new WeakMap<BoundSession, string>();
  /** Our disco#info queries in flight, by id. */
  const capsQueries = new Map<string, BoundSession>();

  const nodeOf = (owner: string, node: string): PepNode | undefined => {
    const stored = nodes.get([owner, node]);
    if (stored !== undefined) for (const item of stored.items) Element.revive(item.payload);
    return stored;
  };
  const nodeCount = (owner: string) => nodes.getKeysCount({ start: [owner], end: [owner, '\uffff'] });

  /** Whether `jid` (a bare JID) may read the owner's node. */
  const mayRead = (owner: string, node: PepNode, jid: string): boolean => {
    if (jid === owner || node.access === 'open') return true;
    return node.access === 'presence' && services.hooks.fire('presence-subscriber', { owner, contact: jid }) === true;
  };

  /** The sessions to notify of a change to the owner's node. */
  const audience = (owner: string, name: string, node: PepNode): BoundSession[] => {
    const readers = [owner];
    if (node.access !== 'whitelist') readers.push(...(services.hooks.fire('presence-subscribers', { owner }) ?? []));
    const out: BoundSession[] = [];
    for (const reader of readers) {
      for (const session of sessions.availableResources(reader)) if (interests.get(session)?.has(name)) out.push(session);
    }
    return out;
  };

  const notify = (owner: string, name: string, items: Element, to: readonly BoundSession[]): void => {
    for (const session of to) {
      const event = el('event', { xmlns: EVENT_NS }, items.clone());
      session.send(el('message', { from: owner, to: session.fullJid, type: 'headline', id: randomUUID() }, event).toString());
    }
  };

  const itemElement = (item: { id: string; payload: Element }) => el('item', { id: item.id }, item.payload);

  const publish = async ({ session }: IqRequest, pubsub: Element, request: Element): Promise<IqAnswer> => {
    const owner = session.bareJid;
    const name = request.attrs.node;
    if (!name) return missingNode();
    const items = request.getChildren('item');
    const payloads = items[0]?.elements() ?? [];
    if (items.length !== 1 || payloads.length !== 1) return pubsubError('bad-request', 'invalid-payload');
    const options = readOptions(pubsub.getChild('publish-options')?.getChild('x', DATA_NS));
    if ('error' in options) return pubsubError('not-acceptable', undefined, options.error);
    let node = nodeOf(owner, name);
    if (node === undefined) {
      if (nodeCount(owner) >= MAX_NODES) return { error: 'resource-constraint', text: `At most ${MAX_NODES} nodes` };
      node = { access: options.access ?? 'presence', maxItems: options.maxItems ?? 1, items: [] };
    } else if ((options.access !== undefined && options.access !== node.access) || (options.maxItems !== undefined && options.maxItems !== node.maxItems)) {
      // XEP-0060 §7.1.5: the options are preconditions on an existing node.
      return pubsubError('conflict', 'precondition-not-met');
    }
    const item = { id: items[0]!.attrs.id || randomUUID(), payload: payloads[0]! };
    node.items = [...node.items.filter((kept) => kept.id !== item.id), item].slice(-node.maxItems);
    await database.acknowledged(nodes.put([owner, name], node));
    notify(owner, name, el('items', { node: name }, itemElement(item)), audience(owner, name, node));
    return el('pubsub', { xmlns: NS }, el('publish', { node: name }, el('item', { id: item.id })));
  };

  const retract = async ({ session }: IqRequest, request: Element): Promise<IqAnswer> => {
    const owner = session.bareJid;
    const name = request.attrs.node;
    if (!name) return missingNode();
    const id = request.getChild('item')?.attrs.id;
    if (!id) return pubsubError('bad-request', 'item-required');
    const node = nodeOf(owner, name);
    if (node === undefined || !node.items.some((item) => item.id === id)) return { error: 'item-not-found' };
    node.items = node.items.filter((item) => item.id !== id);
    await database.acknowledged(nodes.put([owner, name], node));
    if (request.attrs.notify === 'true' || request.attrs.notify === '1') {
      notify(owner, name, el('items', { node: name }, el('retract', { id })), audience(owner, name, node));
    }
    return null;
  };

  const items = ({ session, target }: IqRequest, request: Element): IqAnswer => {
    const owner = target.kind === 'account' ? target.bareJid : session.bareJid;
    const name = request.attrs.node;
    if (!name) return missingNode();
    const node = nodeOf(owner, name);
    if (node === undefined) return { error: 'item-not-found' };
    if (!mayRead(owner, node, session.bareJid)) return { error: 'forbidden' };
    const wanted = new Set(request.getChildren('item').map((item) => item.attrs.id));
    const max = Number(request.attrs.max_items);
    let chosen = wanted.size > 0 ? node.items.filter((item) => wanted.has(item.id)) : node.items;
    if (Number.isInteger(max) && max > 0) chosen = chosen.slice(-max);
    return el('pubsub', { xmlns: NS }, el('items', { node: name }, ...chosen.map(itemElement)));
  };

  const configure = async ({ session, stanza }: IqRequest, request: Element): Promise<IqAnswer> => {
    const owner = session.bareJid;
    const name = request.attrs.node;
    if (!name) return missingNode();
    const node = nodeOf(owner, name);
    if (node === undefined) return { error: 'item-not-found' };
    if (stanza.attrs.type === 'get') return el('pubsub', { xmlns: OWNER_NS }, el('configure', { node: name }, configForm(node)));
    const form = request.getChild('x', DATA_NS);
    if (form === undefined) return { error: 'bad-request', text: 'A node configuration form is required' };
    if (form.attrs.type === 'cancel') return null;
    const options = readOptions(form);
    if ('error' in options) return { error: 'not-acceptable', text: options.error };
    node.access = options.access ?? node.access;
    node.maxItems = options.maxItems ?? node.maxItems;
    node.items = node.items.slice(-node.maxItems);
    await database.acknowledged(nodes.put([owner, name], node));
    return null;
  };

  /** Deletes the node (XEP-0060 §8.4), or only its items (purge, §8.5); those notified of it are told. */
  const clear = async ({ session }: IqRequest, request: Element): Promise<IqAnswer> => {
    const owner = session.bareJid;
    const name = request.attrs.node;
    if (!name) return missingNode();
    const node = nodeOf(owner, name);
    if (node === undefined) return { error: 'item-not-found' };
    const to = audience(owner, name, node);
    if (request.name === 'delete') await database.acknowledged(nodes.remove([owner, name]));
    else await database.acknowledged(nodes.put([owner, name], { ...node, items: [] }));
    notify(owner, name, el(request.name, { node: name }), to);
    return null;
  };

  services.iq('pubsub', OWNER_NS, 'both', async (request) => {
    const { query, target, session } = request;
    if (target.kind === 'account' && target.bareJid !== session.bareJid) return { error: 'forbidden' };
    const action = query.elements()[0];
    if (action?.name === 'configure') return configure(request, action);
    if (request.stanza.attrs.type === 'set' && (action?.name === 'delete' || action?.name === 'purge')) return clear(request, action);
    return { error: 'feature-not-implemented' };
  });

  services.iq('pubsub', NS, 'both', async (request) => {
    const { stanza, query, target, session } = request;
    const action = query.elements().find((child) => child.name !== 'publish-options');
    if (action === undefined) return { error: 'bad-request' };
    if (stanza.attrs.type === 'get') return action.name === 'items' ? items(request, action) : { error: 'service-unavailable' };
    // Only the owner changes its nodes.
    if (target.kind === 'account' && target.bareJid !== session.bareJid) return { error: 'forbidden' };
    if (action.name === 'publish') return publish(request, query, action);
    if (action.name === 'retract') return retract(request, action);
    return { error: 'service-unavailable' };
  });

  // The account's own disco#info names it a PEP service (XEP-0163 §6.1).
  services.iq('query', DISCO_INFO_NS, 'account', ({ stanza, query, session, target }) => {
    if (stanza.attrs.type !== 'get' || query.attrs.node !== undefined || target.kind !== 'account') return undefined;
    const owner = target.bareJid;
    if (owner !== session.bareJid && services.hooks.fire('presence-subscriber', { owner, contact: session.bareJid }) !== true) return undefined;
    return el(
      'query',
      { xmlns: DISCO_INFO_NS },
      el('identity', { category: 'account', type: 'registered' }),
      el('identity', { category: 'pubsub', type: 'pep' }),
      ...PEP_FEATURES.map((feature) => el('feature', { var: NS + '#' + feature })),
    );
  });

  // Capabilities: ask a session what it wants notifications of when it advertises new ones.
  services.hooks.on('presence-broadcast', ({ session, stanza }) => {
    const caps = stanza.getChild('c', CAPS_NS);
    if (stanza.attrs.type === 'unavailable' || caps === undefined) return;
    const capsNode = (caps.attrs.node ?? '') + '#' + (caps.attrs.ver ?? '');
    if (advertised.get(session) === capsNode) return;
    advertised.set(session, capsNode);
    const id = randomUUID();
    capsQueries.set(id, session);
    const query = el('query', { xmlns: DISCO_INFO_NS, node: capsNode });
    session.send(el('iq', { type: 'get', id, from: settings.domain, to: session.fullJid }, query).toString());
  });
  services.hooks.on('iq-response', ({ session, stanza }) => {
    const asked = capsQueries.get(stanza.attrs.id ?? '');
    if (asked !== session) return undefined;
    capsQueries.delete(stanza.attrs.id!);
    const features = stanza.getChild('query', DISCO_INFO_NS)?.getChildren('feature') ?? [];
    const wanted = new Set(features.map((feature) => feature.attrs.var ?? '').filter((v) => v.endsWith('+notify')).map((v) => v.slice(0, -7)));
    interests.set(session, wanted);
    // XEP-0163 §4.3.2: the last item of each such node it may read, from its own account and its contacts.
    const owners = [session.bareJid, ...(services.hooks.fire('presence-subscriptions', { account: session.bareJid }) ?? [])];
    for (const owner of owners) {
      for (const name of wanted) {
        const node = nodeOf(owner, name);
        const last = node?.items[node.items.length - 1];
        if (node !== undefined && last !== undefined && mayRead(owner, node, session.bareJid)) {
          notify(owner, name, el('items', { node: name }, itemElement(last)), [session]);
        }
      }
    }
    return true;
  });
  services.hooks.on('session-ended', ({ session }) => {
    for (const [id, asked] of capsQueries) if (asked === session) capsQueries.delete(id);
  });
}

const PEP_FEATURES = [
  'access-presence', 'access-open', 'access-whitelist', 'auto-create', 'config-node', 'delete-nodes', 'publish', 'publish-options',
  'purge-nodes', 'retract-items', 'retrieve-items', 'persistent-items', 'last-published',
];

/** A node's configuration as XEP-0060 §8.2 shows it: the options this service has. */
function configForm(node: PepNode): Element {
  const field = (v: string, type: string, value: string, ...options: string[]) =>
    el('field', { var: v, type }, el('value', {}, value), ...options.map((option) => el('option', {}, el('value', {}, option))));
  return el(
    'x',
    { xmlns: DATA_NS, type: 'form' },
    field('FORM_TYPE', 'hidden', NODE_CONFIG_NS),
    field('pubsub#access_model', 'list-single', node.access, 'presence', 'open', 'whitelist'),
    field('pubsub#max_items', 'text-single', String(node.maxItems)),
    field('pubsub#persist_items', 'boolean', 'true'),
  );
}

/** The publish-options the service honours (XEP-0060 §7.1.5); others are ignored. */
function readOptions(form: Element | undefined): { access?: AccessModel; maxItems?: number } | { error: string } {
  const out: { access?: AccessModel; maxItems?: number } = {};
  for (const field of form?.getChildren('field') ?? []) {
    const value = field.getChildText('value') ?? '';
    if (field.attrs.var === 'pubsub#access_model') {
      if (value !== 'presence' && value !== 'open' && value !== 'whitelist') return { error: `Unsupported access model: ${value}` };
      out.access = value;
    } else if (field.attrs.var === 'pubsub#max_items') {
      const max = value === 'max' ? MAX_ITEMS : Number(value);
      if (!Number.isInteger(max) || max < 1 || max > MAX_ITEMS) return { error: `pubsub#max_items must be 1 to ${MAX_ITEMS} or "max"` };
      out.maxItems = max;
    } else if (field.attrs.var === 'pubsub#persist_items' && value !== 'true' && value !== '1') {
      return { error: 'Items are always persistent here (pubsub#persist_items)' };
    }
  }
  return out;
}

function missingNode(): IqAnswer {
  return pubsubError('bad-request', 'nodeid-required');
}

/** A pubsub error: the stanza condition plus its application-specific condition (XEP-0060 §7). */
function pubsubError(condition: 'bad-request' | 'conflict' | 'not-acceptable', specific?: string, text?: string): IqAnswer {
  return { error: condition, text, specific: specific === undefined ? undefined : el(specific, { xmlns: ERRORS_NS }) };
}
