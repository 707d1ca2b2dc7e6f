// The room's message archive (XEP-0313, as Prosody's mod_muc_mam): every
// groupchat message worth keeping is archived as it is broadcast and carries a
// <stanza-id/> naming its archive id; the room answers archive queries with
// RSM paging, and refills its discussion history from the archive after a
// restart. Archiving is on unless the owner turns it off. The archive write is
// never awaited, so a broadcast goes out as fast as without it.

import { prepJid } from '../../jid/jid.js';
import type { ArchiveQuery } from '../../store/interface.js';
import { el, type Element } from '../../xml/element.js';
import { parseElement } from '../../xml/stream-parser.js';
import { formType, readForm, renderForm, type FormField } from '../dataform.js';
import type { RoomFeature } from '../events.js';
import type { Room } from '../room.js';
import { defineSetting, PERSISTENT, WHOIS } from '../settings.js';
import { errorReply, NS_DATA, NS_DELAY, NS_MUC_USER, reply, type StanzaError } from '../stanzas.js';
import { hasHistory, historyLength, isHistoric, restoreHistory, timestamp } from './history.js';
import { MEMBERS_ONLY } from './members-only.js';
import { NS_CLIENT, NS_FORWARD, NS_RSM } from '../../xmpp/namespaces.js';

const NS_MAM = 'urn:xmpp:mam:2';
const NS_STANZA_ID = 'urn:xmpp:sid:0';

export const ARCHIVING = defineSetting<boolean>('archiving', true);

/** Prosody's page size when the client names none, and the largest it serves. */
const DEFAULT_PAGE = 20;
const MAX_PAGE = 50;

const QUERY_FORM: FormField[] = [
  { var: 'FORM_TYPE', type: 'hidden', value: NS_MAM },
  { var: 'with', type: 'jid-single' },
  { var: 'start', type: 'text-single', datatype: 'xs:dateTime' },
  { var: 'end', type: 'text-single', datatype: 'xs:dateTime' },
  { var: 'before-id', type: 'text-single' },
  { var: 'after-id', type: 'text-single' },
];

function refuse(room: Room, stanza: Element, error: StanzaError): true {
  room.send(errorReply(stanza, error), stanza.attrs.from as string);
  return true;
}

/** Drops `<stanza-id/>`s that claim to come from this room; only the room may say that. */
function stripForgedIds(room: Room, stanza: Element): void {
  stanza.children = stanza.children.filter(
    (child) => typeof child === 'string' || !child.is('stanza-id', NS_STANZA_ID) || prepJid(child.attrs.by ?? '') !== room.jid,
  );
}

function archive(room: Room, stanza: Element): void {
  const stored = stanza.clone().setAttr('to', undefined);
  if (room.get(WHOIS) === 'anyone') {
    // As Prosody: a non-anonymous room records who spoke, shown only while the room stays non-anonymous.
    const sender = room.occupants.get(stanza.attrs.from ?? '');
    if (sender !== undefined) {
      const affiliation = room.affiliationOf(sender.bareJid);
      stored.c('x', { xmlns: NS_MUC_USER }).c('item', { affiliation, role: sender.role, jid: sender.bareJid });
    }
  }
  const id = room.archive.append(room.jid, { stanza: stored.toString(), from: stanza.attrs.from ?? room.jid });
  stanza.c('stanza-id', { xmlns: NS_STANZA_ID, by: room.jid, id });
}

/** An archived message as a client may see it now. */
function archivedStanza(room: Room, xml: string): Element {
  const stanza = parseElement(xml);
  if (room.get(WHOIS) !== 'anyone') stanza.removeChildren('x', NS_MUC_USER);
  return stanza;
}

function mayQuery(room: Room, from: string): boolean {
  const affiliation = room.affiliationOf(from);
  return affiliation !== 'outcast' && !(room.get(MEMBERS_ONLY) && affiliation === 'none');
}

function parseTime(value: string | undefined): number | undefined | null {
  if (value === undefined) return undefined;
  const ms = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(value) ? Date.parse(value) : NaN;
  return Number.isNaN(ms) ? null : ms;
}

/** The query's filter from its form and its RSM `<set/>`, or the error to answer. */
function readQuery(query: Element): ArchiveQuery | StanzaError {
  const badRequest = (text: string): StanzaError => ({ type: 'modify', condition: 'bad-request', text });
  const form = query.getChild('x', NS_DATA);
  let values = new Map<string, unknown>();
  if (form !== undefined) {
    const type = formType(form);
    if (type === '') return badRequest('Invalid dataform: missing FORM_TYPE');
    if (type !== NS_MAM) return badRequest(`Unexpected FORM_TYPE, expected '${NS_MAM}'`);
    const read = readForm(QUERY_FORM, form);
    const [invalid] = read.errors;
    if (invalid !== undefined) return badRequest(invalid[1]);
    values = read.values;
  }
  // A field sent empty filters nothing, as one left out.
  const given = (field: string): string | undefined => (values.get(field) as string | undefined) || undefined;
  const start = parseTime(given('start'));
  const end = parseTime(given('end'));
  if (start === null || end === null) return badRequest('Invalid date/time');

  const set = query.getChild('set', NS_RSM);
  const maxText = set?.getChildText('max');
  const requested = maxText !== undefined && /^\d+$/.test(maxText.trim()) ? Number(maxText) : DEFAULT_PAGE;
  const before = set?.getChildText('before');
  const after = set?.getChildText('after') ?? given('after-id');
  return {
    start,
    end,
    with: given('with'),
    after: after || undefined,
    before: before || given('before-id'),
    max: Math.min(requested, MAX_PAGE),
    fromEnd: before !== undefined,
  };
}

function answerQuery(room: Room, stanza: Element, query: Element): true {
  const from = stanza.attrs.from as string;
  if (!mayQuery(room, from)) return refuse(room, stanza, { type: 'auth', condition: 'forbidden' });
  const filter = readQuery(query);
  if ('condition' in filter) return refuse(room, stanza, filter);
  for (const id of [filter.after, filter.before]) {
    if (id !== undefined && !room.archive.has(room.jid, id)) return refuse(room, stanza, { type: 'modify', condition: 'item-not-found' });
  }
  const page = room.archive.query(room.jid, filter);
  const queryId = query.attrs.queryid;
  for (const item of page.items) {
    const forwarded = el('forwarded', { xmlns: NS_FORWARD }, el('delay', { xmlns: NS_DELAY, stamp: timestamp(item.at) }));
    forwarded.append(archivedStanza(room, item.stanza).setAttr('xmlns', NS_CLIENT));
    const result = el('result', { xmlns: NS_MAM, queryid: queryId, id: item.id }, forwarded);
    room.send(el('message', { from: room.jid }, result), from);
  }
  const set = el('set', { xmlns: NS_RSM });
  const first = page.items[0];
  const last = page.items.at(-1);
  if (first !== undefined && last !== undefined) set.append(el('first', {}, first.id), el('last', {}, last.id));
  set.append(el('count', {}, String(page.count)));
  const fin = el('fin', { xmlns: NS_MAM, complete: page.complete ? 'true' : undefined }, set);
  room.send(reply(stanza).append(fin), from);
  return true;
}

/** After a restart the in-memory history is empty: it starts again from the archive. */
function refillHistory(room: Room): void {
  if (hasHistory(room) || !room.get(ARCHIVING)) return;
  const entries = room.archive.latest(room.jid, historyLength(room)).map((item) => {
    const stanza = archivedStanza(room, item.stanza);
    stanza.c('delay', { xmlns: NS_DELAY, from: room.jid, stamp: timestamp(item.at) });
    stanza.c('stanza-id', { xmlns: NS_STANZA_ID, by: room.jid, id: item.id });
    return { stanza, at: item.at };
  });
  restoreHistory(room, entries);
}

export const messageArchive: RoomFeature = (hooks) => {
  // Before the discussion history (priority 0) keeps its copy, so that the copy has the stanza-id.
  hooks.on(
    'broadcast-message',
    ({ room, stanza }) => {
      stripForgedIds(room, stanza);
      if (room.get(ARCHIVING) && stanza.attrs.type === 'groupchat' && isHistoric(stanza)) archive(room, stanza);
    },
    1,
  );

  hooks.on('occupant-session-new', ({ room }) => refillHistory(room), 60);

  hooks.on(`iq-get/${NS_MAM}`, ({ room, stanza, query }) => {
    if (query.name !== 'query') return undefined;
    room.send(reply(stanza).append(el('query', { xmlns: NS_MAM }, renderForm({ fields: QUERY_FORM }))), stanza.attrs.from as string);
    return true;
  });
  hooks.on(`iq-set/${NS_MAM}`, ({ room, stanza, query }) => (query.name === 'query' ? answerQuery(room, stanza, query) : undefined));

  hooks.on('disco-info', ({ room, reply: info }) => {
    if (room.get(ARCHIVING)) info.c('feature', { var: NS_MAM });
    info.c('feature', { var: NS_STANZA_ID });
  });

  hooks.on('config-form', ({ room, fields }) => {
    fields.push({ var: 'muc#roomconfig_enablearchiving', type: 'boolean', label: 'Enable archiving?', value: room.get(ARCHIVING) });
  });
  hooks.on('config-submitted/muc#roomconfig_enablearchiving', ({ room, value, statusCodes }) => {
    // Prosody announces the setting whenever the form carries it, changed or not.
    room.set(ARCHIVING, value === true);
    statusCodes.add(value === true ? '170' : '171');
  });

  hooks.on('room-destroyed', ({ room }) => room.archive.delete(room.jid));
  hooks.on('occupant-left', ({ room }) => {
    // A temporary room ends with its last occupant, and its archive with it.
    if (!room.hasOccupants() && !room.get(PERSISTENT)) room.archive.delete(room.jid);
  });
};
