// Conclave as an external component (XEP-0114) of an XMPP server that keeps
// the users: the server routes every stanza for the MUC domain to us over
// `component.connections` links, and we send the rooms' deliveries back.
//
// Inbound, a stanza is checked the way the client front end checks what a
// client sends (the server vouches for `from`, but we do not crash on its
// mistakes): a bad one is answered with an error over the link, a good one
// goes to the shards, rooms and service disco alike, as in standalone mode.
//
// Outbound, every recipient's stanzas take the link chosen by a stable hash of
// its bare JID, so a user's traffic stays on one connection and in order.
// ejabberd accepts several connections for one domain and, with
// `domain_balancing: bare_destination`, keeps each room on one of them;
// Prosody accepts one connection per component.
//
// With the client listener on as well, `domain` is Conclave's own: its
// recipients are served by the local sessions and never go over the link, and
// the server may not send us stanzas from that domain (it would claim users
// whose traffic we deliver locally). Every other domain is the server's.

import type { Settings } from '../config/load.js';
import { bareJid, jidDomain, prepJid } from '../jid/jid.js';
import type { Logger } from '../log.js';
import type { Delivery } from '../runtime/protocol.js';
import { addressedTo } from '../runtime/shard-channel.js';
import { fnv1a } from '../runtime/shard-of.js';
import type { Element } from '../xml/element.js';
import { ComponentLink, COMPONENT_NS, DEFAULT_LIVENESS, type LinkStats, type LivenessTiming } from './component-link.js';
import { errorAnswer, type StanzaErrorCondition } from '../xmpp/errors.js';
import { isValidIq, type MucDispatch } from './router.js';
import { NS_CLIENT } from '../xmpp/namespaces.js';

/** How long a sender counts as the actor of the deliveries that come back to it, if none do sooner. */
const ACTOR_WINDOW_MS = 1_000;

export class ComponentService {
  private readonly links: ComponentLink[];
  private readonly domain: string;
  /** The domain the client listener serves, when it is on. */
  private readonly localDomain: string | undefined;
  /**
   * Full JIDs that sent us a stanza and have not been delivered anything
   * since, with when: the actors, whose copies leave after the others' (see
   * component-link.ts). A request that gives its sender nothing back leaves
   * its entry until it expires.
   */
  private readonly actors = new Map<string, number>();

  constructor(
    settings: Settings,
    private readonly log: Logger,
    private readonly muc: MucDispatch,
    liveness: LivenessTiming = DEFAULT_LIVENESS,
  ) {
    this.domain = prepJid(settings.muc.domain) ?? settings.muc.domain;
    this.localDomain = settings.client.enabled ? (prepJid(settings.domain) ?? settings.domain) : undefined;
    this.links = Array.from(
      { length: settings.component.connections },
      (_, index) =>
        new ComponentLink(
          index,
          settings,
          log,
          (stanza) => this.receive(stanza),
          // The server may route one link's ping answer or barrier back over another (ejabberd does); the id says whose it was.
          (id) => this.links.some((link) => link.ownIqBack(id)),
          liveness,
        ),
    );
    for (const link of this.links) link.open();
  }

  /** Resolves once every link is authenticated (now, or when each next completes its handshake). */
  async ready(): Promise<void> {
    await Promise.all(this.links.map((link) => link.whenUp()));
  }

  /** Resolves when every link has completed its next handshake (after a reconnection, say). */
  async reconnected(): Promise<void> {
    await Promise.all(this.links.map((link) => link.nextUp()));
  }

  /** Per-link state and counters, in link order. */
  stats(): LinkStats[] {
    return this.links.map((link) => link.snapshot());
  }

  /** Deliveries from the shards: each recipient outside the local domain over its link. */
  deliver = (deliveries: Delivery[]): void => {
    const now = Date.now();
    const served: string[] = [];
    for (const delivery of deliveries) {
      for (const jid of delivery.to) {
        if (this.localDomain !== undefined && jidDomain(jid) === this.localDomain) continue;
        const since = this.actors.get(jid);
        const actor = since !== undefined && now - since < ACTOR_WINDOW_MS;
        if (since !== undefined) served.push(jid);
        this.linkFor(jid).send(addressedTo(delivery, jid), jid, actor);
      }
    }
    for (const jid of served) this.actors.delete(jid);
  };

  async close(): Promise<void> {
    await Promise.all(this.links.map((link) => link.close()));
  }

  private linkFor(jid: string): ComponentLink {
    return this.links[linkIndex(jid, this.links.length)];
  }

  /** A stanza from the server. */
  private receive(stanza: Element): void {
    const ns = stanza.attrs.xmlns;
    if (ns !== undefined && ns !== COMPONENT_NS && ns !== NS_CLIENT) {
      this.log.warn({ ns, stanza: stanza.name }, 'ignoring a stanza in an unknown namespace from the server');
      return;
    }
    delete stanza.attrs.xmlns;
    const rawTo = stanza.attrs.to;
    const to = rawTo === undefined ? null : prepJid(rawTo);
    const toUs = to !== null && jidDomain(to) === this.domain;
    // The server sends only what is addressed to us; an answer from anywhere else would be refused as an invalid `from`.
    const replyFrom = toUs ? to : this.domain;
    const rawFrom = stanza.attrs.from;
    if (rawFrom === undefined) {
      // Nobody to answer: a reply without `to` would only come back from the server as bad-request.
      this.log.warn({ stanza: stanza.toString() }, "dropping a stanza without 'from' from the server");
      return;
    }
    const refuse = (condition: StanzaErrorCondition, text: string) => this.refuse(stanza, replyFrom, condition, text);
    const from = prepJid(rawFrom);
    if (from === null) return refuse('jid-malformed', "Invalid 'from' address");
    if (jidDomain(from) === this.localDomain) return refuse('not-allowed', `${this.localDomain} is served by this component's own listener`);
    if (rawTo === undefined) return refuse('bad-request', "A 'to' address is required");
    if (to === null) return refuse('jid-malformed', "Invalid 'to' address");
    if (!toUs) return refuse('item-not-found', `This component serves ${this.domain} only`);
    if (stanza.name === 'iq' && !isValidIq(stanza)) return refuse('bad-request', 'Invalid iq');
    stanza.attrs.from = from;
    stanza.attrs.to = to;
    this.noteActor(from);
    this.muc(stanza);
  }

  private refuse(stanza: Element, from: string, condition: StanzaErrorCondition, text: string): void {
    const error = errorAnswer(stanza, condition, text);
    const to = error?.attrs.to;
    if (error === undefined || to === undefined) return;
    error.attrs.from = from;
    this.linkFor(to).send(error.toString(), to);
  }

  private noteActor(jid: string): void {
    const now = Date.now();
    this.actors.delete(jid);
    this.actors.set(jid, now);
    // Insertion order is age order: drop the expired from the front.
    for (const [old, since] of this.actors) {
      if (now - since < ACTOR_WINDOW_MS) break;
      this.actors.delete(old);
    }
  }
}

/** Which of `links` connections carries the traffic of `jid`: a stable hash of its bare JID. */
export function linkIndex(jid: string, links: number): number {
  return fnv1a(bareJid(jid)) % links;
}
