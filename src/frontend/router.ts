// Routes what bound clients send (RFC 6121 basics) and what the shards
// deliver. Client stanzas get their `from` stamped with the session's full
// JID and go to a local session, to the server's own handlers, to the MUC
// service, or back as an error.

import type { AccountServices, IqAnswer, IqTarget } from '../account/services.js';
import type { Settings } from '../config/load.js';
import { bareJid, jidDomain, jidResource, prepJid } from '../jid/jid.js';
import type { Logger } from '../log.js';
import type { Delivery } from '../runtime/protocol.js';
import type { StanzaSender } from '../runtime/shard-pool.js';
import { addressedTo } from '../runtime/shard-channel.js';
import { Element, el } from '../xml/element.js';
import { errorAnswer, type StanzaErrorCondition } from '../xmpp/errors.js';
import type { BoundSession, SessionTable } from './sessions.js';
import { NS_PING as PING_NS, NS_DISCO_INFO as DISCO_INFO_NS, NS_DISCO_ITEMS as DISCO_ITEMS_NS, NS_SESSION as SESSION_NS, NS_DELAY as DELAY_NS } from '../xmpp/namespaces.js';

const VCARD_UPDATE_NS = 'vcard-temp:x:update';

const SUBSCRIPTION_TYPES = new Set(['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed']);
const PRESENCE_TYPES = new Set(['unavailable', 'subscribe', 'subscribed', 'unsubscribe', 'unsubscribed', 'probe', 'error']);

/** Where stanzas for the MUC service go (the shard pool), with the client session that sent them, for flow control. */
export type MucDispatch = (stanza: Element, sender?: StanzaSender) => void;

/** The other nodes of a cluster: sends a stanza to the node(s) serving a JID's sessions; false when none does. */
export interface ClusterPeers {
  forward(stanza: Element, jid: string): boolean;
}

export class StanzaRouter {
  private muc: MucDispatch | undefined;
  private peers: ClusterPeers | undefined;

  constructor(
    private readonly settings: Settings,
    private readonly sessions: SessionTable,
    private readonly log: Logger,
    private readonly services: AccountServices,
  ) {}

  /** A stanza an account module sends back to the MUC service (an error reply to a room's request). */
  private readonly replyToMuc = (stanza: Element): void => this.muc?.(stanza);

  /** Connects the MUC service; until then its domain answers service-unavailable. */
  attachMuc(dispatch: MucDispatch): void {
    this.muc = dispatch;
  }

  /** Connects the other nodes of a cluster: what has no session here may have one there. */
  attachPeers(peers: ClusterPeers): void {
    this.peers = peers;
  }

  /** A stanza from a bound client session. */
  fromClient(session: BoundSession, stanza: Element): void {
    const problem = stampFromClient(session.fullJid, stanza);
    if (problem !== undefined) return this.bounce(session, stanza, problem);
    const to = stanza.attrs.to;
    if (this.stanzaOut(session, stanza)) return;
    if (stanza.name === 'presence') return this.presenceFromClient(session, stanza, to);
    if (to === undefined) {
      // No `to` means the sender's own account (RFC 6120 §10.3); its iq the server answers.
      if (stanza.name === 'iq') return this.serverIq(session, stanza);
      return this.messageToBare(session, stanza, session.bareJid);
    }
    const domain = jidDomain(to);
    if (domain === this.settings.muc.domain) return this.toMuc(session, stanza);
    if (!this.isLocal(domain)) return this.bounce(session, stanza, 'remote-server-not-found');
    const bare = bareJid(to);
    if (bare === domain) {
      if (stanza.name === 'iq') {
        if (to === domain) return this.serverIq(session, stanza);
        return this.bounce(session, stanza, 'service-unavailable');
      }
      return; // The server has no message or presence handlers of its own: dropped.
    }
    if (stanza.name === 'message') {
      const target = jidResource(to) === '' ? undefined : this.sessions.get(to);
      if (target) this.deliverMessage(bare, stanza, [target]);
      else if (jidResource(to) === '' || !this.peers?.forward(stanza, to)) this.messageToBare(session, stanza, bare);
    } else if (stanza.name === 'iq') {
      if (jidResource(to) === '') return this.accountIq(session, stanza, bare);
      const target = this.sessions.get(to);
      if (target) target.send(stanza.toString());
      else if (!this.peers?.forward(stanza, to)) this.bounce(session, stanza, 'service-unavailable');
    }
  }

  /** Runs the account modules' look at a stanza the session sends (carbons, blocking); true when one of them took it. */
  stanzaOut(session: BoundSession, stanza: Element): boolean {
    return this.services.hooks.fire('stanza-out', { session, stanza }) === true;
  }

  /** A stanza for a user here from a user on another node of the cluster (`from` stamped there). */
  fromCluster(stanza: Element): void {
    const to = stanza.attrs.to ?? '';
    // The recipient's block list is here, not on the sender's node.
    if (this.services.hooks.fire('stanza-in', { stanza, answer: (error) => this.peers?.forward(error, error.attrs.to ?? '') }) === true) return;
    const session = this.sessions.get(to);
    if (stanza.name === 'message') {
      if (session) this.deliverMessage(bareJid(to), stanza, [session]);
      else this.messageToBare(undefined, stanza, bareJid(to));
    } else if (session) session.send(stanza.toString());
    else if (stanza.name === 'iq') this.bounce(undefined, stanza, 'service-unavailable');
    else if (jidResource(to) === '') for (const target of this.sessions.availableResources(to)) target.send(stanza.toString());
  }

  /** Deliveries from the shards. Recipients without a session are dropped, and what an account's module refuses (a block list). */
  deliver = (deliveries: Delivery[]): void => {
    for (const delivery of deliveries) {
      for (const jid of delivery.to) {
        if (jidResource(jid) !== '') {
          const session = this.sessions.get(jid);
          if (session) this.deliverFromRoom(session, delivery, jid);
          continue;
        }
        for (const session of this.bareRecipients(jid, delivery.head)) this.deliverFromRoom(session, delivery, jid);
      }
    }
  };

  /**
   * A session is going away (stream closed, socket lost, replaced): its
   * presence goes unavailable to its other resources and to everyone it sent
   * directed presence to, which is how its occupants leave their rooms.
   */
  sessionEnded(session: BoundSession, reason?: string): void {
    this.broadcastUnavailable(session, endPresence(session.fullJid, reason), false);
    this.services.hooks.fire('session-ended', { session });
  }

  /** The server's domain, or its guests' (whose sessions are in the same table). */
  private isLocal(domain: string): boolean {
    return domain === this.settings.domain || domain === this.settings.auth.guest_domain;
  }

  /** Who gets a room's stanza addressed to a bare JID (RFC 6121 §8.5.2). */
  private bareRecipients(jid: string, head: string): Iterable<BoundSession> {
    if (head.startsWith('<message')) return this.sessions.messageTargets(jid);
    if (head.startsWith('<presence')) return this.sessions.availableResources(jid);
    return [];
  }

  private deliverFromRoom(session: BoundSession, delivery: Delivery, jid: string): void {
    // Only an account a module watches costs a hook event per delivery.
    if (this.services.watchesRooms(session.bareJid) && this.services.hooks.fire('room-delivery', { target: session, delivery, jid, toMuc: this.replyToMuc })) return;
    deliverTo(session, delivery, jid);
  }

  private toMuc(session: BoundSession, stanza: Element): void {
    if (this.muc) this.muc(stanza, session);
    else this.bounce(session, stanza, 'service-unavailable');
  }

  private presenceFromClient(session: BoundSession, stanza: Element, to: string | undefined): void {
    if (!acceptPresence(stanza)) return this.bounce(session, stanza, 'bad-request', 'Invalid presence type');
    const type = stanza.attrs.type;
    if (to === undefined) {
      if (type === undefined) return this.broadcastAvailable(session, stanza);
      if (type === 'unavailable') return this.broadcastUnavailable(session, stanza, true);
      return this.bounce(session, stanza, 'bad-request', 'Invalid presence type');
    }
    // Directed presence (RFC 6121 §4.6): remembered so that it can be undone when the session ends.
    if (type === undefined) session.directedPresence.add(to);
    else if (type === 'unavailable' || type === 'error') session.directedPresence.delete(to);

    const domain = jidDomain(to);
    if (domain === this.settings.muc.domain) return this.toMuc(session, stanza);
    if (!this.isLocal(domain)) {
      if (type !== 'unavailable') this.bounce(session, stanza, 'remote-server-not-found');
      return;
    }
    const bare = bareJid(to);
    // Probes are the server's to send (the roster answers initial presence); the server itself has no presence.
    if (bare === domain || type === 'probe') return;
    if (type !== undefined && SUBSCRIPTION_TYPES.has(type) && this.services.hooks.fire('presence-subscription', { session, stanza })) return;
    if (jidResource(to) !== '') {
      const target = this.sessions.get(to);
      if (target) target.send(stanza.toString());
      else this.peers?.forward(stanza, to);
      return;
    }
    const xml = stanza.toString();
    for (const target of this.sessions.availableResources(bare)) target.send(xml);
    this.peers?.forward(stanza, bare);
  }

  /** Available broadcast presence (RFC 6121 §4.2, §4.4): to self, the user's other available resources, and (the roster's) contacts. */
  private broadcastAvailable(session: BoundSession, stanza: Element): void {
    const initial = !session.available;
    session.available = true;
    session.priority = parsePriority(stanza);
    session.send(stanza.toString());
    const others = this.sessions.availableResources(session.bareJid).filter((other) => other !== session);
    for (const other of others) other.send(stanza.clone().setAttr('to', other.fullJid).toString());
    if (initial) {
      for (const other of others) {
        if (other.presence) session.send(other.presence.clone().setAttr('to', session.fullJid).toString());
      }
    }
    session.presence = stanza
      .clone()
      .append(el('delay', { xmlns: DELAY_NS, from: this.settings.domain, stamp: new Date().toISOString() }));
    this.services.hooks.fire('presence-broadcast', { session, stanza, initial });
    if (initial) this.services.hooks.fire('session-available', { session });
  }

  /** Unavailable broadcast presence (RFC 6121 §4.5): to the user's resources, its contacts and every directed-presence recipient. */
  private broadcastUnavailable(session: BoundSession, stanza: Element, echo: boolean): void {
    if (session.available) {
      if (echo) session.send(stanza.toString());
      for (const other of this.sessions.availableResources(session.bareJid)) {
        if (other !== session) other.send(stanza.clone().setAttr('to', other.fullJid).toString());
      }
      this.services.hooks.fire('presence-broadcast', { session, stanza, initial: false });
    }
    session.available = false;
    session.priority = 0;
    session.presence = undefined;
    const directed = [...session.directedPresence];
    session.directedPresence.clear();
    for (const jid of directed) this.presenceFromClient(session, stanza.clone().setAttr('to', jid), jid);
  }

  /**
   * A message for an account, by RFC 6121 §8.5.2; what reaches no session
   * here goes to another node's, else the offline module may keep it.
   * `session` is the sender's, undefined when it came from another node.
   */
  private messageToBare(session: BoundSession | undefined, stanza: Element, bare: string): void {
    const type = stanza.attrs.type;
    if (type === 'error') return;
    if (type === 'groupchat') return this.bounce(session, stanza, 'service-unavailable');
    const targets =
      type === 'headline'
        ? this.sessions.availableResources(bare).filter((target) => target.priority >= 0)
        : this.sessions.messageTargets(bare);
    if (targets.length === 0) {
      if (session && this.peers?.forward(stanza, bare)) return;
      if (type === 'headline' || this.services.hooks.fire('message-undeliverable', { bareJid: bare, stanza })) return;
      return this.bounce(session, stanza, 'service-unavailable');
    }
    this.deliverMessage(bare, stanza, targets);
  }

  /** Writes a message to an account's sessions. */
  private deliverMessage(bare: string, stanza: Element, targets: BoundSession[]): void {
    const xml = stanza.toString();
    for (const target of targets) target.send(xml);
    this.services.hooks.fire('message-delivered', { bareJid: bare, stanza, targets });
  }

  /** An iq to an account's bare JID, answered by the server on the account's behalf. */
  private accountIq(session: BoundSession, stanza: Element, bare: string): void {
    const type = stanza.attrs.type;
    if (type === 'result' || type === 'error') return;
    const query = stanza.elements()[0];
    if (this.accountService(session, stanza, query, { kind: 'account', bareJid: bare })) return;
    if (bare === session.bareJid) return this.serverIq(session, stanza);
    this.bounce(session, stanza, 'service-unavailable');
  }

  /** Hands the iq to the account module that took its payload; false when none did. */
  private accountService(session: BoundSession, stanza: Element, query: Element, target: IqTarget): boolean {
    const handler = this.services.iqHandler(query, target);
    if (handler === undefined) return false;
    const request = { session, stanza, query, target };
    const answer = (result: IqAnswer): void => {
      if (result === undefined) return this.bounce(session, stanza, 'service-unavailable');
      if (result !== null && !(result instanceof Element)) {
        const error = errorAnswer(stanza, result.error, result.text);
        if (result.specific !== undefined) error?.getChild('error')!.append(result.specific);
        if (error) session.send(error.toString());
        return;
      }
      this.reply(session, stanza, result ?? undefined);
    };
    const failed = (err: unknown): void => {
      this.log.error({ err, stanza: stanza.toString() }, 'account service failed');
      this.bounce(session, stanza, 'internal-server-error');
    };
    try {
      const result = this.services.hooks.fire('service-iq', request) ?? handler(request);
      if (result instanceof Promise) result.then(answer, failed);
      else answer(result);
    } catch (err) {
      failed(err);
    }
    return true;
  }

  /** An iq to the server itself. */
  private serverIq(session: BoundSession, stanza: Element): void {
    const type = stanza.attrs.type;
    if (type === 'result' || type === 'error') {
      this.services.hooks.fire('iq-response', { session, stanza });
      return;
    }
    const query = stanza.elements()[0];
    const ns = query.xmlns;
    if (type === 'get' && query.is('ping', PING_NS)) return this.reply(session, stanza);
    if (this.accountService(session, stanza, query, { kind: 'server' })) return;
    if (type === 'get' && query.is('query', DISCO_INFO_NS) && query.attrs.node === undefined) {
      return this.reply(session, stanza, this.discoInfo());
    }
    if (type === 'get' && query.is('query', DISCO_ITEMS_NS) && query.attrs.node === undefined) {
      return this.reply(session, stanza, el('query', { xmlns: DISCO_ITEMS_NS }, el('item', { jid: this.settings.muc.domain })));
    }
    // Legacy session establishment (RFC 3921 §3), offered as optional: nothing to do.
    if (type === 'set' && query.is('session', SESSION_NS)) return this.reply(session, stanza);
    this.log.debug({ ns, name: query.name }, 'no handler for iq');
    this.bounce(session, stanza, 'service-unavailable');
  }

  private discoInfo(): Element {
    return el(
      'query',
      { xmlns: DISCO_INFO_NS },
      el('identity', { category: 'server', type: 'im', name: 'Conclave' }),
      ...[DISCO_INFO_NS, DISCO_ITEMS_NS, PING_NS, ...this.services.features].map((v) => el('feature', { var: v })),
    );
  }

  private reply(session: BoundSession, stanza: Element, payload?: Element): void {
    const result = el('iq', { type: 'result', id: stanza.attrs.id, from: stanza.attrs.to, to: session.fullJid }, payload);
    session.send(result.toString());
  }

  /** Answers with an error; to the sender's node when the sender is on another one (`session` undefined). */
  private bounce(session: BoundSession | undefined, stanza: Element, condition: StanzaErrorCondition, text?: string): void {
    const error = errorAnswer(stanza, condition, text);
    if (!error) return;
    if (session) session.send(error.toString());
    else this.peers?.forward(error, error.attrs.to ?? '');
  }
}

function deliverTo(session: BoundSession, delivery: Delivery, jid: string): void {
  if (session.deliver) session.deliver(delivery, jid);
  else session.send(addressedTo(delivery, jid));
}

/**
 * Stamps a client's stanza with its sender and checks what every route
 * needs: a valid iq, a well-formed `to` (put in its prepared form). The
 * condition to answer with when it fails.
 */
export function stampFromClient(fullJid: string, stanza: Element): StanzaErrorCondition | undefined {
  stanza.attrs.from = fullJid;
  if (stanza.name === 'iq' && !isValidIq(stanza)) return 'bad-request';
  const rawTo = stanza.attrs.to;
  if (rawTo === undefined) return undefined;
  const to = prepJid(rawTo);
  if (to === null) return 'jid-malformed';
  stanza.attrs.to = to;
  return undefined;
}

/** Whether a client's presence has a known type; an available one gets what a client that says nothing about its avatar means (none, as Prosody does). */
export function acceptPresence(stanza: Element): boolean {
  const type = stanza.attrs.type;
  if (type !== undefined && !PRESENCE_TYPES.has(type)) return false;
  if (type === undefined && !stanza.getChild('x', VCARD_UPDATE_NS)) stanza.append(el('x', { xmlns: VCARD_UPDATE_NS }, el('photo')));
  return true;
}

/** The unavailable presence a session's end sends where it had sent available presence. */
export function endPresence(fullJid: string, reason: string | undefined): Element {
  const unavailable = el('presence', { type: 'unavailable', from: fullJid });
  if (reason !== undefined) unavailable.append(el('status', {}, 'Disconnected: ' + reason));
  return unavailable;
}

/** RFC 6120 §8.2.3: an id, a known type, and exactly one payload for get and set. */
export function isValidIq(stanza: Element): boolean {
  const type = stanza.attrs.type;
  if (stanza.attrs.id === undefined) return false;
  if (type === 'get' || type === 'set') return stanza.elements().length === 1;
  return type === 'result' || type === 'error';
}

function parsePriority(presence: Element): number {
  const text = presence.getChildText('priority')?.trim();
  if (text === undefined || !/^[+-]?\d+$/.test(text)) return 0;
  return Math.max(-128, Math.min(127, Number(text)));
}
