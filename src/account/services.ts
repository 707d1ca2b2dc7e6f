// What a standalone server answers and does on behalf of its accounts
// (RFC 6121 and the XEPs clients expect at login), as feature modules that
// plug into the router, the way the MUC's features plug into the room core.
//
// A module registers iq handlers by payload (element name and namespace) for
// the server itself or for an account's bare JID, lists its disco features,
// and hooks the router's events: a stanza a session sends, the
// rooms' stanzas about to reach a session, one that reached nobody, and a
// session's initial presence.

import type { Settings } from '../config/load.js';
import type { BoundSession, SessionTable } from '../frontend/sessions.js';
import type { Logger } from '../log.js';
import type { Delivery } from '../runtime/protocol.js';
import type { Database } from '../store/database.js';
import { Hooks } from '../muc/hooks.js';
import type { Element } from '../xml/element.js';

/** Who an iq is addressed to: the server itself, or an account (its bare JID). */
export type IqTarget = { kind: 'server' } | { kind: 'account'; bareJid: string };

export interface IqRequest {
  session: BoundSession;
  stanza: Element;
  /** The iq's one payload element. */
  query: Element;
  target: IqTarget;
}

/**
 * An iq handler answers by returning the result's payload (or `null` for an
 * empty result), or an error condition; `undefined` passes the iq on.
 */
export type IqAnswer = Element | null | { error: IqError; text?: string; /** An application-specific condition. */ specific?: Element } | undefined;
export type IqError = 'bad-request' | 'conflict' | 'feature-not-implemented' | 'forbidden' | 'item-not-found' | 'not-acceptable' | 'not-allowed' | 'service-unavailable' | 'resource-constraint';
export type IqHandler = (request: IqRequest) => IqAnswer | Promise<IqAnswer>;

/** The router's message events; a handler that returns true has dealt with the stanza. */
export type AccountEvents = {
  /** A bound session sent a stanza (`to` prepared, if any); true stops its routing (it was refused). */
  'stanza-out': { event: { session: BoundSession; stanza: Element }; result: true };
  /**
   * A user's stanza from another node of the cluster, for a user here (the
   * sender's node ran `stanza-out`, with the lists it has); true: refused.
   * `answer` sends an error back to the sender.
   */
  'stanza-in': { event: { stanza: Element; answer: (error: Element) => void }; result: true };
  /**
   * The MUC service's stanzas (`delivery`, addressed to `jid`) are about to be
   * written to a local session; true: a module wrote what it accepts itself.
   * `toMuc` sends a stanza back to the MUC service (an error reply).
   */
  'room-delivery': { event: { target: BoundSession; delivery: Delivery; jid: string; toMuc: (stanza: Element) => void }; result: true };
  /** A message to an account (or one of its resources) was written to these sessions. */
  'message-delivered': { event: { bareJid: string; stanza: Element; targets: readonly BoundSession[] }; result: never };
  /** A chat or normal message to an account reached no session; true: it was kept for later. */
  'message-undeliverable': { event: { bareJid: string; stanza: Element }; result: true };
  /** A subscription presence (subscribe, subscribed, unsubscribe, unsubscribed) to a local account; true: handled. */
  'presence-subscription': { event: { session: BoundSession; stanza: Element }; result: true };
  /** A session's available or unavailable broadcast presence went to its own resources; now its contacts. */
  'presence-broadcast': { event: { session: BoundSession; stanza: Element; initial: boolean }; result: never };
  /** An iq result or error addressed to the server (an answer to a query a module sent); true: it was expected. */
  'iq-response': { event: { session: BoundSession; stanza: Element }; result: true };
  /** Whether presence from account `from` must not reach account `to` (bare JIDs), whatever their subscription: true if so. */
  'presence-blocked': { event: { from: string; to: string }; result: true };
  /** Whether `contact` (a bare JID) receives the presence of `owner`: true if so. */
  'presence-subscriber': { event: { owner: string; contact: string }; result: true };
  /** The local accounts that receive `owner`'s presence. */
  'presence-subscribers': { event: { owner: string }; result: string[] };
  /** The local accounts whose presence `account` receives. */
  'presence-subscriptions': { event: { account: string }; result: string[] };
  /** An iq a module's handler would answer; an error refuses it instead (a guest's request, say). */
  'service-iq': { event: IqRequest; result: { error: IqError; text?: string } };
  /** A session sent its first available presence. */
  'session-available': { event: { session: BoundSession }; result: never };
  /** A bound session ended. */
  'session-ended': { event: { session: BoundSession }; result: never };
};

export interface AccountContext {
  settings: Settings;
  database: Database;
  sessions: SessionTable;
  log: Logger;
  services: AccountServices;
  /** Whether the bare JID names an account of this server. */
  accountExists(bareJid: string): boolean;
  /** The real full JIDs of the sessions behind an in-room JID (room@service/nick), where the room runs here. */
  roomOccupants(occupantJid: string): readonly string[];
}

export class AccountServices {
  readonly hooks = new Hooks<AccountEvents>();
  private readonly iqHandlers = new Map<string, { server?: IqHandler; account?: IqHandler }>();
  private readonly featureList: string[] = [];

  /** Handles iqs whose payload is `<name xmlns=ns>`, addressed to the server, to an account, or both. */
  iq(name: string, ns: string, where: 'server' | 'account' | 'both', handler: IqHandler): void {
    const entry = this.iqHandlers.get(name + ' ' + ns) ?? {};
    if (where !== 'account') entry.server = handler;
    if (where !== 'server') entry.account = handler;
    this.iqHandlers.set(name + ' ' + ns, entry);
  }

  /** A disco#info feature the server (and every account) offers. */
  feature(...vars: string[]): void {
    this.featureList.push(...vars);
  }

  get features(): readonly string[] {
    return this.featureList;
  }

  /** The handler for this iq, if a module took its payload. */
  iqHandler(query: Element, target: IqTarget): IqHandler | undefined {
    const entry = this.iqHandlers.get(query.name + ' ' + (query.attrs.xmlns ?? ''));
    return target.kind === 'server' ? entry?.server : entry?.account;
  }

  /**
   * The rooms' stanzas to an account pass the 'room-delivery' hook only when
   * a module watches that account (blocking, for an account with a block
   * list): on one thread the router skips the hook for the others, and with
   * I/O threads theirs come straight from the shards, while every stanza a
   * watched account sends to a room passes 'stanza-out' on the main thread
   * first. A module says whom it watches here, and calls `roomWatchChanged`
   * when that changes.
   */
  watchRooms(watches: (bareJid: string) => boolean): void {
    this.roomWatchers.push(watches);
  }

  /** Asked once per room delivery on the main thread: a plain loop, nothing allocated. */
  watchesRooms(bareJid: string): boolean {
    for (const watches of this.roomWatchers) if (watches(bareJid)) return true;
    return false;
  }

  roomWatchChanged(bareJid: string): void {
    for (const listener of this.roomWatchListeners) listener(bareJid);
  }

  onRoomWatchChanged(listener: (bareJid: string) => void): void {
    this.roomWatchListeners.push(listener);
  }

  private readonly roomWatchers: ((bareJid: string) => boolean)[] = [];
  private readonly roomWatchListeners: ((bareJid: string) => void)[] = [];
}
