// Discussion history (XEP-0045 §7.2.15): the room keeps its last messages
// with a body (or a storage hint) in memory, stamped with a delay, and sends
// them to each session that enters, limited by the <history/> it asked for.
// It is bounded (README "Limits"): an owner may set at most
// muc.max_history_length messages, the history keeps at most
// muc.max_history_chars characters of serialized stanzas, and it does not
// grow while the shard is short of memory (a new message replaces the oldest).

import type { Element } from '../../xml/element.js';
import { parseElement } from '../../xml/stream-parser.js';
import type { RoomFeature } from '../events.js';
import type { Room } from '../room.js';
import { defineSetting } from '../settings.js';
import { NS_DELAY, NS_MUC } from '../stanzas.js';
import { inSection } from './config-sections.js';
import { NS_HINTS } from '../../xmpp/namespaces.js';

/** Unset: the service's muc.history_length. */
const HISTORY_LENGTH = defineSetting<number | undefined>('history_length', undefined);
const DEFAULT_MESSAGES = defineSetting<number>('default_history_messages', 20);
const NS_EME = 'urn:xmpp:eme:0';
const NS_CHAT_MARKERS = 'urn:xmpp:chat-markers:0';

interface Entry {
  stanza: Element;
  at: number;
  /** Serialized length, for maxchars. */
  chars: number;
}

const histories = new WeakMap<Room, Entry[]>();

/** The last second `timestamp` wrote, and what it wrote: a busy room stamps many messages in one second. */
let stampedSecond = NaN;
let stamped = '';

/** XEP-0082 date-time without fractions, as Prosody writes it. */
export function timestamp(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== stampedSecond) {
    // toISOString is always YYYY-MM-DDTHH:mm:ss.sssZ here (years 0 to 9999): a slice, not a regex.
    stamped = new Date(ms).toISOString().slice(0, 19) + 'Z';
    stampedSecond = second;
  }
  return stamped;
}

/**
 * Whether a message is worth keeping (history and archive): storage hints
 * decide first; then a body, an encrypted payload or a chat marker, as Prosody.
 */
export function isHistoric(stanza: Element): boolean {
  if (stanza.getChild('no-store', NS_HINTS) || stanza.getChild('no-permanent-store', NS_HINTS)) return false;
  if (stanza.getChild('store', NS_HINTS) !== undefined || stanza.getChild('body') !== undefined) return true;
  return stanza.getChild('encryption', NS_EME) !== undefined || stanza.getChildByNs(NS_CHAT_MARKERS) !== undefined;
}

/** As Prosody's get_historylength: what the owner set, or the default, never above the maximum (which may have been lowered since). */
export function historyLength(room: Room): number {
  const { historyLength, maxHistoryLength } = room.limits;
  return Math.min(room.get(HISTORY_LENGTH) ?? historyLength, maxHistoryLength);
}

/** Whether the room kept any history since it was loaded. */
export function hasHistory(room: Room): boolean {
  return histories.has(room);
}

/** Starts a room's history from earlier messages (already stamped with their delay), oldest first, within its byte cap. */
export function restoreHistory(room: Room, messages: { stanza: Element; at: number }[]): void {
  const entries = messages.map(({ stanza, at }) => ({ stanza, at, chars: stanza.toString().length }));
  histories.set(room, entries);
  trim(entries, historyLength(room), room.limits.maxHistoryChars);
}

/** Drops the oldest entries until at most `length` are left, within `maxChars`. */
function trim(entries: Entry[], length: number, maxChars: number): void {
  let chars = 0;
  for (const entry of entries) chars += entry.chars;
  let drop = Math.max(0, entries.length - length);
  for (let i = 0; i < drop; i++) chars -= entries[i].chars;
  while (chars > maxChars) chars -= entries[drop++].chars;
  entries.splice(0, drop);
}

function remember(room: Room, stanza: Element): void {
  const entries = histories.get(room) ?? [];
  histories.set(room, entries);
  const { maxHistoryChars, memoryShort } = room.limits;
  const length = memoryShort() ? Math.min(entries.length, historyLength(room)) : historyLength(room);
  const at = Date.now();
  const copy = stanza.clone().setAttr('to', undefined);
  copy.c('delay', { xmlns: NS_DELAY, from: room.jid, stamp: timestamp(at) });
  const chars = copy.toString().length;
  // A message bigger than the whole cap is not kept; it would only push the others out.
  if (length > 0 && chars <= maxHistoryChars) entries.push({ stanza: copy, at, chars });
  trim(entries, length, maxHistoryChars);
}

/**
 * The entries a `<history/>` request selects, oldest first. As in Prosody,
 * maxchars counts each stanza as sent, with `to` (the recipient `to`).
 */
function selected(room: Room, request: Element | undefined, to: string): Entry[] {
  const entries = histories.get(room) ?? [];
  const number = (name: string): number | undefined => {
    const value = request?.attrs[name];
    return value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined;
  };
  const maxChars = number('maxchars');
  const seconds = number('seconds');
  const sinceText = request?.attrs.since;
  let since = sinceText === undefined ? undefined : Date.parse(sinceText);
  if (since !== undefined && Number.isNaN(since)) since = undefined;
  if (seconds !== undefined) since = Math.max(since ?? 0, Date.now() - seconds * 1000);
  const maxStanzas =
    number('maxstanzas') ?? (maxChars === undefined && since === undefined ? room.get(DEFAULT_MESSAGES) : entries.length);
  let chars = 0;
  let count = 0;
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i];
    if (maxChars !== undefined && (chars += entry.chars + ` to=''`.length + to.length) > maxChars) break;
    if (since !== undefined && entry.at < since) break;
    if (count + 1 > maxStanzas) break;
    count++;
  }
  return entries.slice(entries.length - count);
}

export const history: RoomFeature = (hooks) => {
  hooks.on('broadcast-message', ({ room, stanza }) => {
    if (isHistoric(stanza)) remember(room, stanza);
  });

  // The history moves with the room to another node of a cluster (transfer.ts).
  hooks.on('room-export', ({ room, features }) => {
    const entries = histories.get(room);
    if (entries !== undefined) features.history = entries.map(({ stanza, at }) => [stanza.toString(), at]);
  });
  hooks.on('room-import', ({ room, features }) => {
    const entries = features.history as [string, number][] | undefined;
    if (entries !== undefined) restoreHistory(room, entries.map(([xml, at]) => ({ stanza: parseElement(xml), at })));
  });

  hooks.on(
    'occupant-session-new',
    ({ room, stanza, jid }) => {
      const request = stanza.getChild('x', NS_MUC)?.getChild('history');
      for (const entry of selected(room, request, jid)) room.send(entry.stanza, jid);
    },
    50,
  );

  hooks.on(
    'config-form',
    ({ room, fields }) => {
      fields.push({
        var: 'muc#roomconfig_historylength',
        type: 'text-single',
        datatype: 'xs:integer',
        range: { min: 0, max: room.limits.maxHistoryLength },
        label: 'Maximum number of history messages returned by room',
        desc: 'Specify the maximum number of previous messages that should be sent to users when they join the room',
        value: String(historyLength(room)),
      });
      fields.push({
        var: 'muc#roomconfig_defaulthistorymessages',
        type: 'text-single',
        datatype: 'xs:integer',
        range: { min: 0, max: room.limits.maxHistoryLength },
        label: 'Default number of history messages returned by room',
        desc: 'Specify the number of previous messages sent to new users when they join the room',
        value: String(room.get(DEFAULT_MESSAGES)),
      });
    },
    inSection('other', 5),
  );
  hooks.on('config-submitted/muc#roomconfig_historylength', ({ room, value, statusCodes }) => {
    // An empty field means the default, as in Prosody.
    if (room.set(HISTORY_LENGTH, value === '' ? undefined : Number(value))) statusCodes.add('104');
  });
  hooks.on('config-submitted/muc#roomconfig_defaulthistorymessages', ({ room, value, statusCodes }) => {
    const messages = Math.min(value === '' ? DEFAULT_MESSAGES.defaultValue : Number(value), historyLength(room));
    if (room.set(DEFAULT_MESSAGES, messages)) statusCodes.add('104');
  });
};
