// A room's state and the core operations on it: occupants and their sessions,
// affiliations and roles, and how an occupant's presence is shown to the room.
// Inbound stanzas are dispatched to these operations by lifecycle.ts; feature
// modules extend them through the room events (events.ts).
//
// Everything here is synchronous. What the room sends and what it changes in
// storage is collected by its host (the RoomActor), which commits the changes
// and only then delivers what was sent, so an acknowledgement never precedes
// its write.

import type { Config } from '../config/schema.js';
import { bareJid, jidDomain, jidResource } from '../jid/jid.js';
import type { ArchiveStore, StoredRoom } from '../store/interface.js';
import { el, type Element } from '../xml/element.js';
import type { RoomEvents, RoomHooks } from './events.js';
import type { RoomLimits } from './limits.js';
import { Occupant } from './occupant.js';
import {
  AFFILIATION_RANK,
  ROLE_RANK,
  type Affiliation,
  type AffiliationEntry,
  type Role,
} from './roles.js';
import { PRESENCE_BROADCAST, WHOIS, readSetting, writeSetting, type RoomConfig, type RoomSetting } from './settings.js';
import { item, mucUserX, NS_MUC_USER, type StanzaError } from './stanzas.js';

export type MucSettings = Config['muc'];

/** What a room needs from its surroundings. */
export interface RoomHost {
  /** The MUC service's domain. */
  readonly serviceDomain: string;
  /** Bare JIDs that own every room of the service. */
  readonly admins: ReadonlySet<string>;
  /** The service's message archive (XEP-0313). */
  readonly archive: ArchiveStore;
  readonly limits: RoomLimits;
  /** The service's configuration. */
  readonly settings: MucSettings;
  send(stanza: Element, to: string | readonly string[]): void;
  /** A session entered (`present`) or left the room under a nickname. */
  occupancy(nick: string, jid: string, present: boolean): void;
}

/** The `<x/>` templates of a presence broadcast: what everyone sees, and what the occupant itself sees. */
export interface PresenceTemplates {
  base: Element;
  self?: Element;
}

export interface PubliciseOptions {
  /** The new nickname, for a nick change (status 303). */
  nick?: string;
  /** Real JID of whoever caused the change. */
  actor?: string;
  reason?: string;
  /** The occupant's role before the change. */
  prevRole?: Role;
  /** Show the occupant as gone to everyone, whatever the broadcast settings. */
  forceUnavailable?: boolean;
  /** Send only to this occupant (a presence probe). */
  recipient?: Occupant;
}

export interface AffiliationChange {
  reason?: string;
  /** The nickname to reserve; `null` drops the reservation, `undefined` keeps it. */
  nick?: string | null;
}

export class Room {
  /** In-room JID → occupant. */
  readonly occupants = new Map<string, Occupant>();
  /** Real full JID of each live session → in-room JID. */
  private readonly sessionNicks = new Map<string, string>();
  /** In-room JID → its live sessions as last saved (occupant objects are changed before they are saved). */
  private readonly savedSessions = new Map<string, string[]>();
  /** Bare JID (or domain, for a ban) → affiliation. */
  readonly affiliations: Map<string, AffiliationEntry>;
  /** Reserved nickname → bare JID. */
  private readonly reservedNicks = new Map<string, string>();
  /** The presence each occupant is listed with to a newcomer, by its stored presence and what else shapes it. */
  private readonly listed = new WeakMap<Element, { key: string; view: Element }>();
  /** Bumped by features when what they add to occupant presences changes, so listed presences are rebuilt. */
  private presenceVersion = 0;
  readonly config: RoomConfig;
  destroyed = false;

  /** What changed since storage last saw the room. */
  configChanged = false;
  readonly changedAffiliations = new Set<string>();

  constructor(
    readonly jid: string,
    private readonly hooks: RoomHooks,
    private readonly host: RoomHost,
    record: StoredRoom<AffiliationEntry> = { config: {}, affiliations: new Map() },
  ) {
    this.config = record.config;
    this.affiliations = record.affiliations;
    for (const [jid, entry] of this.affiliations) if (entry.nick !== undefined) this.reservedNicks.set(entry.nick, jid);
  }

  get serviceDomain(): string {
    return this.host.serviceDomain;
  }

  get archive(): ArchiveStore {
    return this.host.archive;
  }

  get limits(): RoomLimits {
    return this.host.limits;
  }

  get settings(): MucSettings {
    return this.host.settings;
  }

  fire<K extends keyof RoomEvents & string>(name: K, event: RoomEvents[K]['event']): RoomEvents[K]['result'] | undefined {
    return this.hooks.fire(name, event);
  }

  send(stanza: Element, to: string | readonly string[]): void {
    this.host.send(stanza, to);
  }

  get<T>(setting: RoomSetting<T>): T {
    return readSetting(this.config, setting);
  }

  /** Changes a setting; false when it already had that value. */
  set<T>(setting: RoomSetting<T>, value: T): boolean {
    const changed = writeSetting(this.config, setting, value);
    if (changed) this.configChanged = true;
    return changed;
  }

  // Affiliations

  affiliationOf(jid: string): Affiliation {
    const bare = bareJid(jid);
    if (this.host.admins.has(bare)) return 'owner';
    const entry = this.affiliations.get(bare);
    if (entry !== undefined) return entry.affiliation;
    return this.affiliations.get(jidDomain(bare))?.affiliation === 'outcast' ? 'outcast' : 'none';
  }

  registeredNick(bare: string): string | undefined {
    return this.affiliations.get(bare)?.nick;
  }

  /** The bare JID that reserved a nickname. */
  registeredJid(nick: string): string | undefined {
    return this.reservedNicks.get(nick);
  }

  /**
   * Changes the affiliation of a bare JID (or a domain, to ban a whole host).
   * `actor` is the requester's real JID, or true for the service itself, which
   * skips the permission rules. Occupants of that JID get their new role and
   * the room hears of it; for someone absent, the room's moderators (everyone,
   * in a non-anonymous room) get a message instead.
   */
  setAffiliation(actor: string | true, jid: string, affiliation: Affiliation, change: AffiliationChange = {}): StanzaError | undefined {
    const refusal = this.affiliationChangeRefusal(actor, jid, affiliation);
    if (refusal !== undefined) return refusal;
    const previous = this.affiliations.get(jid)?.affiliation ?? 'none';
    const isDowngrade = AFFILIATION_RANK[previous] > AFFILIATION_RANK[affiliation];
    const veto = this.fire('pre-set-affiliation', { room: this, jid, affiliation, previous });
    if (veto !== undefined) return veto;

    this.storeAffiliation(jid, affiliation, change);

    const role = this.defaultRole(affiliation);
    const isHostBan = !jid.includes('@') && affiliation === 'outcast';
    const updated: [Occupant, Role][] = [];
    for (const occupant of [...this.occupants.values()]) {
      if (occupant.bareJid !== jid && !(isHostBan && jidDomain(occupant.bareJid) === jid)) continue;
      updated.push([occupant, occupant.role]);
      if (occupant.role !== role && (isDowngrade || ROLE_RANK[occupant.role] < ROLE_RANK[role])) {
        occupant.role = role;
        this.saveOccupant(occupant);
      }
    }

    const x = mucUserX();
    if (role === 'none') x.c('status', { code: affiliation === 'outcast' ? '301' : '321' });
    const semiAnonymous = this.get(WHOIS) === 'moderators';
    const actorJid = actor === true ? undefined : actor;
    for (const [occupant, oldRole] of updated) {
      this.publicise(occupant, x, { actor: actorJid, reason: change.reason, prevRole: oldRole });
      if (occupant.role === 'none') {
        this.fire('occupant-left', { room: this, occupant });
      } else if (semiAnonymous && (oldRole === 'moderator') !== (occupant.role === 'moderator')) {
        // Gaining or losing moderator changes whose real JIDs the occupant may see.
        for (const session of occupant.liveSessions()) {
          this.sendOccupantList(session, (other) => other === undefined || other.bareJid !== jid);
        }
      }
    }
    if (updated.length === 0) {
      // XEP-0045 example 195: the affiliation of someone not in the room changed.
      const announcement = x.clone().append(item({ affiliation, jid, reason: change.reason }));
      this.broadcast(el('message', { from: this.jid }, announcement), (occupant) => !semiAnonymous || occupant.role === 'moderator');
    }
    this.fire('set-affiliation', { room: this, jid, affiliation, previous, inRoom: updated.length > 0 });
    return undefined;
  }

  /**
   * Why `actor` may not give `jid` this affiliation (XEP-0045 §5.2 as Prosody
   * applies it), or undefined when it may: owners may do anything but leave the
   * room without an owner; admins may only manage members and outcasts.
   */
  affiliationChangeRefusal(actor: string | true, jid: string, affiliation: Affiliation): StanzaError | undefined {
    // Service admins own every room; that cannot be taken from them.
    if (this.host.admins.has(jid) && affiliation !== 'owner') return { type: 'modify', condition: 'not-acceptable' };
    if (actor === true) return undefined;
    const previous = this.affiliations.get(jid)?.affiliation ?? 'none';
    const actorAffiliation = this.affiliationOf(actor);
    if (actorAffiliation === 'owner') {
      const isDowngrade = AFFILIATION_RANK[previous] > AFFILIATION_RANK[affiliation];
      if (bareJid(actor) === jid && isDowngrade) {
        const otherOwner = [...this.affiliations].some(([other, entry]) => other !== jid && entry.affiliation === 'owner');
        if (!otherOwner) return { type: 'cancel', condition: 'conflict' };
      }
      return undefined;
    }
    if (
      affiliation === 'owner' ||
      affiliation === 'admin' ||
      actorAffiliation !== 'admin' ||
      previous === 'owner' ||
      previous === 'admin'
    ) {
      return { type: 'cancel', condition: 'not-allowed' };
    }
    return undefined;
  }

  /**
   * Keeps the new affiliation with what else the entry holds (the nickname
   * unless the change names one, the features' data); the reason is the
   * change's, or the old one when the affiliation stays the same.
   */
  private storeAffiliation(jid: string, affiliation: Affiliation, change: AffiliationChange): void {
    const old = this.affiliations.get(jid);
    if (old?.nick !== undefined && this.reservedNicks.get(old.nick) === jid) this.reservedNicks.delete(old.nick);
    if (affiliation === 'none') {
      this.affiliations.delete(jid);
    } else {
      const entry: AffiliationEntry = { ...old, affiliation };
      if (change.nick !== undefined) entry.nick = change.nick ?? undefined;
      if (change.reason !== undefined || old?.affiliation !== affiliation) entry.reason = change.reason;
      this.affiliations.set(jid, withoutUndefined(entry));
      if (entry.nick !== undefined) this.reservedNicks.set(entry.nick, jid);
    }
    this.changedAffiliations.add(jid);
  }

  /** What a feature keeps with a JID's affiliation under `key`. */
  affiliationData<T>(jid: string, key: string): T | undefined {
    return this.affiliations.get(jid)?.data?.[key] as T | undefined;
  }

  /** Keeps (or, with undefined, drops) a feature's data with an affiliated JID; false when it has no affiliation. */
  setAffiliationData(jid: string, key: string, value: unknown): boolean {
    const entry = this.affiliations.get(jid);
    if (entry === undefined) return false;
    const data = { ...entry.data, [key]: value };
    if (value === undefined) delete data[key];
    this.affiliations.set(jid, withoutUndefined({ ...entry, data: Object.keys(data).length > 0 ? data : undefined }));
    this.changedAffiliations.add(jid);
    this.presenceChanged();
    return true;
  }

  /** Tells the room that what features add to occupant presences changed: presences listed to newcomers are rebuilt. */
  presenceChanged(): void {
    this.presenceVersion++;
  }

  // Roles

  defaultRole(affiliation: Affiliation): Role {
    const decided = this.fire('default-role', { room: this, affiliation });
    if (decided !== undefined) return decided;
    if (AFFILIATION_RANK[affiliation] >= AFFILIATION_RANK.admin) return 'moderator';
    return AFFILIATION_RANK[affiliation] >= AFFILIATION_RANK.none ? 'participant' : 'none';
  }

  /** Changes an occupant's role; 'none' kicks them (307). `actor` as for setAffiliation. */
  setRole(actor: string | true, nick: string, role: Role, reason?: string): StanzaError | undefined {
    const occupant = this.occupants.get(nick);
    if (occupant === undefined) return { type: 'modify', condition: 'item-not-found' };
    if (actor !== true) {
      const refusal = this.roleChangeRefusal(actor, occupant, role);
      if (refusal !== undefined) return refusal;
    }
    const prevRole = occupant.role;
    occupant.role = role;
    this.saveOccupant(occupant);
    const x = role === 'none' ? mucUserX('307') : mucUserX();
    this.publicise(occupant, x, { actor: actor === true ? undefined : actor, reason, prevRole });
    if (role === 'none') this.fire('occupant-left', { room: this, occupant });
    return undefined;
  }

  private roleChangeRefusal(actor: string, occupant: Occupant, role: Role): StanzaError | undefined {
    const notAllowed: StanzaError = { type: 'cancel', condition: 'not-allowed' };
    const actorAffiliation = this.affiliationOf(actor);
    if (AFFILIATION_RANK[actorAffiliation] < AFFILIATION_RANK[this.affiliationOf(occupant.bareJid)]) return notAllowed;
    if ((occupant.role === 'moderator' || role === 'moderator') && AFFILIATION_RANK[actorAffiliation] < AFFILIATION_RANK.admin) {
      return notAllowed;
    }
    if (this.occupantByRealJid(actor)?.role !== 'moderator') return notAllowed;
    return undefined;
  }

  // Occupants

  occupantByRealJid(realJid: string): Occupant | undefined {
    const nick = this.sessionNicks.get(realJid);
    return nick === undefined ? undefined : this.occupants.get(nick);
  }

  /** The in-room JID of a real session, when it is in the room. */
  nickOf(realJid: string): string | undefined {
    return this.sessionNicks.get(realJid);
  }

  newOccupant(bare: string, nick: string): Occupant {
    const occupant = new Occupant(nick, bare);
    occupant.role = this.defaultRole(this.affiliationOf(bare));
    return occupant;
  }

  /**
   * Makes an occupant's state the room's: it stays while it has a live session
   * and a role, and leaves otherwise. The caller keeps its object, with the
   * sessions that just left (and its role), to tell them so.
   */
  saveOccupant(occupant: Occupant): void {
    const wasLive = new Set(this.savedSessions.get(occupant.nick));
    for (const jid of wasLive) if (this.sessionNicks.get(jid) === occupant.nick) this.sessionNicks.delete(jid);
    const live = occupant.role === 'none' ? [] : occupant.liveSessions();
    if (live.length === 0) {
      // The caller's object keeps its role, as Prosody's does: a nick change (303) shows the role it had.
      this.occupants.delete(occupant.nick);
      this.savedSessions.delete(occupant.nick);
    } else {
      for (const jid of live) this.sessionNicks.set(jid, occupant.nick);
      this.occupants.set(occupant.nick, occupant.pruned());
      this.savedSessions.set(occupant.nick, live);
    }
    for (const jid of wasLive) if (!live.includes(jid)) this.host.occupancy(occupant.name, jid, false);
    for (const jid of live) if (!wasLive.has(jid)) this.host.occupancy(occupant.name, jid, true);
  }

  hasOccupants(): boolean {
    return this.occupants.size > 0;
  }

  canSeeRealJids(viewer: Occupant): boolean {
    return this.get(WHOIS) === 'anyone' || viewer.role === 'moderator';
  }

  isAnonymousFor(realJid: string): boolean {
    if (this.get(WHOIS) === 'anyone') return false;
    const affiliation = this.affiliationOf(realJid);
    if (affiliation === 'owner' || affiliation === 'admin') return false;
    const occupant = this.occupantByRealJid(realJid);
    return !(occupant !== undefined && this.canSeeRealJids(occupant));
  }

  /** One `<item/>` for an anonymous view, else one per session with its real JID. */
  private appendItems(
    x: Element,
    occupant: Occupant,
    anonymous: boolean,
    extra: { nick?: string; actorNick?: string; actorJid?: string; reason?: string },
  ): Element {
    const fields = { affiliation: this.affiliationOf(occupant.bareJid), role: occupant.role, ...extra };
    if (anonymous) return x.append(item(fields));
    for (const jid of occupant.sessions.keys()) x.append(item({ ...fields, jid }));
    return x;
  }

  /**
   * Shows an occupant's presence to the room: a view with real JIDs to those
   * who may see them, an anonymous one to the others, the occupant's own view
   * (status 110) to its sessions. Each distinct stanza is built once and sent
   * to all its recipients together.
   */
  publicise(occupant: Occupant, templates: Element | PresenceTemplates, options: PubliciseOptions = {}): void {
    const base = 'base' in templates ? templates.base : templates;
    const selfTemplate = 'base' in templates ? (templates.self ?? templates.base) : templates;
    const own = occupant.presence();
    const basePresence =
      own !== undefined && (occupant.role !== 'none' || own.attrs.type === 'unavailable') && !options.forceUnavailable
        ? own.clone().setAttr('to', undefined)
        : el('presence', { from: occupant.nick, type: 'unavailable' });
    this.dress(basePresence, occupant.bareJid);
    const actorNick = options.actor === undefined ? undefined : jidResource(this.nickOf(options.actor) ?? '') || undefined;
    const extra = { nick: options.nick, actorNick, reason: options.reason };
    const build = (template: Element, anonymous: boolean, actorJid?: string): Element =>
      basePresence.clone().append(this.appendItems(template.clone(), occupant, anonymous, { ...extra, actorJid }));

    let full: Element | undefined;
    let anonymous: Element | undefined;
    let selfView: Element | undefined;
    const viewFor = (viewer: Occupant): Element => {
      if (this.canSeeRealJids(viewer)) return (full ??= build(base, false, options.actor));
      if (viewer.bareJid === occupant.bareJid) return (selfView ??= build(selfTemplate, false));
      return (anonymous ??= build(base, true));
    };

    if (options.recipient !== undefined) {
      this.send(viewFor(options.recipient), options.recipient.liveSessions());
      return;
    }

    const broadcastRoles = this.get(PRESENCE_BROADCAST);
    const shown = broadcastRoles.includes(occupant.role) || options.forceUnavailable === true;
    const shownLeaving = !shown && options.prevRole !== undefined && broadcastRoles.includes(options.prevRole);
    if (shown || shownLeaving) {
      const recipients = new Map<Element, string[]>();
      for (const other of this.occupants.values()) {
        if (other.nick === occupant.nick) continue;
        const view = viewFor(other);
        if (shownLeaving) view.setAttr('type', 'unavailable');
        const list = recipients.get(view) ?? [];
        list.push(...other.liveSessions());
        recipients.set(view, list);
      }
      for (const [view, to] of recipients) this.send(view, to);
    }

    const selfX = this.appendItems(selfTemplate.clone(), occupant, false, extra);
    selfX.c('status', { code: '110' });
    if (occupant.role === 'none') {
      this.send(basePresence.clone().append(selfX), [...occupant.sessions.keys()]);
      return;
    }
    for (const [jid, presence] of occupant.sessions) {
      this.send(this.dress(presence.clone(), occupant.bareJid).append(selfX.clone()), jid);
    }
  }

  /**
   * Sends a session the presence of everyone in the room (the join sequence),
   * and, when the room broadcasts the 'none' role, of affiliated users who are
   * absent. `include` filters both (absent users are passed as undefined).
   */
  sendOccupantList(to: string, include: (occupant: Occupant | undefined, jid: string) => boolean): void {
    const toBare = bareJid(to);
    const broadcastRoles = this.get(PRESENCE_BROADCAST);
    const anonymous = this.isAnonymousFor(to);
    const present = new Set<string>();
    for (const occupant of this.occupants.values()) {
      present.add(occupant.bareJid);
      if (!include(occupant, occupant.bareJid)) continue;
      if (toBare !== occupant.bareJid && !broadcastRoles.includes(occupant.role)) continue;
      const view = this.listedPresence(occupant, anonymous && toBare !== occupant.bareJid);
      if (view !== undefined) this.send(view, to);
    }
    if (!broadcastRoles.includes('none')) return;
    for (const [jid, entry] of this.affiliations) {
      if ((entry.nick === undefined && anonymous) || present.has(jid) || !include(undefined, jid)) continue;
      const absent = el(
        'presence',
        { from: entry.nick === undefined ? this.jid : this.jid + '/' + entry.nick, type: 'unavailable' },
        el(
          'x',
          { xmlns: NS_MUC_USER },
          item({ affiliation: entry.affiliation, role: 'none', nick: entry.nick, jid: anonymous ? undefined : jid }),
        ),
      );
      this.send(absent, to);
    }
  }

  /**
   * An occupant's presence as the occupant list shows it. Filling a room of N
   * builds N² of these, so each is built once per stored presence, role,
   * affiliation and view, and sent as is: deliveries are serialized, not kept.
   */
  private listedPresence(occupant: Occupant, anonymous: boolean): Element | undefined {
    const presence = occupant.presence();
    if (presence === undefined) return undefined;
    const sessions = anonymous ? '' : [...occupant.sessions.keys()].join(' ');
    const key = `${this.presenceVersion} ${this.affiliationOf(occupant.bareJid)} ${occupant.role} ${anonymous} ${sessions}`;
    const cached = this.listed.get(presence);
    if (cached?.key === key) return cached.view;
    const x = this.appendItems(el('x', { xmlns: NS_MUC_USER }), occupant, anonymous, {});
    const view = this.dress(presence.clone(), occupant.bareJid).append(x);
    this.listed.set(presence, { key, view });
    return view;
  }

  /** The presence an absent user with a reserved nickname has, for a probe; undefined for unreserved nicknames. */
  absentPresence(nick: string, to: string): Element | undefined {
    const jid = this.registeredJid(nick);
    if (jid === undefined) return undefined;
    const presence = this.dress(el('presence', { from: this.jid + '/' + nick, type: 'unavailable' }), jid);
    return presence.append(
      el(
        'x',
        { xmlns: NS_MUC_USER },
        item({ affiliation: this.affiliationOf(jid), role: 'none', nick, jid: this.isAnonymousFor(to) ? undefined : jid }),
      ),
    );
  }

  /** Lets the feature modules add to a presence the room shows of a user (before its muc#user `<x/>`). */
  private dress(presence: Element, bare: string): Element {
    this.fire('occupant-presence', { room: this, stanza: presence, bareJid: bare });
    return presence;
  }

  /** Sends a stanza to every session of every occupant that passes the filter, as one delivery. */
  broadcast(stanza: Element, include?: (occupant: Occupant) => boolean): void {
    const to: string[] = [];
    for (const occupant of this.occupants.values()) {
      if (include === undefined || include(occupant)) to.push(...occupant.liveSessions());
    }
    if (to.length > 0) this.send(stanza, to);
  }

  /** A message for the whole room (groupchat, subject, status codes), seen by history first. */
  broadcastMessage(stanza: Element): void {
    this.fire('broadcast-message', { room: this, stanza });
    this.broadcast(stanza);
  }

  /** Removes everyone (room destruction): each occupant is shown leaving with `x`. */
  clear(x: Element): void {
    const removed: [Occupant, Role][] = [];
    for (const occupant of [...this.occupants.values()]) {
      removed.push([occupant, occupant.role]);
      occupant.role = 'none';
      this.saveOccupant(occupant);
    }
    for (const [occupant, prevRole] of removed) {
      this.publicise(occupant, x, { prevRole });
      this.fire('occupant-left', { room: this, occupant });
    }
  }

  destroy(options: { reason?: string; alternate?: string; password?: string } = {}): void {
    const destroyEl = el('destroy', { jid: options.alternate });
    if (options.reason !== undefined) destroyEl.c('reason').append(options.reason);
    if (options.password !== undefined) destroyEl.c('password').append(options.password);
    this.clear(el('x', { xmlns: NS_MUC_USER }, destroyEl));
    this.destroyed = this.fire('room-destroyed', { room: this, reason: options.reason, alternate: options.alternate }) === undefined;
  }

  /** Forgets the room's configuration and affiliations (a feature turning it into something else, a tombstone). */
  reset(): void {
    for (const key of Object.keys(this.config)) delete this.config[key];
    this.configChanged = true;
    for (const jid of this.affiliations.keys()) this.changedAffiliations.add(jid);
    this.affiliations.clear();
    this.reservedNicks.clear();
  }
}

/** The entry without its unset fields, so that what storage keeps has no empty keys. */
function withoutUndefined(entry: AffiliationEntry): AffiliationEntry {
  return Object.fromEntries(Object.entries(entry).filter(([, value]) => value !== undefined)) as unknown as AffiliationEntry;
}
