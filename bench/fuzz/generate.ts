// Fuzz inputs: stanzas taken from the corpus or built by a grammar over its
// vocabulary, then mutated (attributes, elements and text changed, cut short,
// nested deep, blown up, made of odd unicode, JIDs made invalid). Every input is
// a pure function of (seed, kind, number), so a finding reproduces from those.

import { escapeAttribute, escapeText } from '../../src/xml/escape.js';
import { BENCH_DOMAIN, BENCH_MUC_DOMAIN } from '../servers.js';
import { corpus, type Shape } from './corpus.js';
import { Random } from './random.js';

const FUZZ_DOMAIN = BENCH_DOMAIN;
export const FUZZ_MUC_DOMAIN = BENCH_MUC_DOMAIN;
/** Accounts the stanzas name; the server fuzzer logs in as the first ones. */
export const FUZZ_USERS = 16;
const ROOMS = 6;

/** Strings that have broken parsers somewhere: odd unicode, controls, markup, numbers at the edges. */
const NASTY = [
  '',
  ' ',
  '\u0000',
  '\u0001\u001f',
  '\ufeff',
  '\ufffe\uffff',
  '\ud800',
  '\udfff\ud800',
  '\u202e\u05d0\u0627',
  '\u200b\u200d\u2060',
  'ǅ\u0130\u0131ß',
  'ｒｏｏｍ',
  '\u{1f600}\u{1f1fa}\u{1f1f8}',
  'a\u0301\u0301\u0301\u0301',
  '&amp;',
  '&#0;',
  '&#xD800;',
  '&#1114112;',
  '&unknown;',
  ']]>',
  '<![CDATA[x]]>',
  '<!-- c -->',
  '<?pi x?>',
  '<!DOCTYPE x>',
  '<',
  '>',
  "'\"",
  '/',
  '@',
  '-1',
  '0',
  '1e309',
  'NaN',
  '18446744073709551616',
  '9007199254740993',
  'true',
  '__proto__',
  'constructor',
  'toString',
  '%s%n',
  '\r\n\t',
];

const INVALID_JIDS = [
  '@',
  'a@',
  '@localhost',
  'a@b@c',
  '/r',
  'a@localhost/',
  `room0@${FUZZ_MUC_DOMAIN}/`,
  `@${FUZZ_MUC_DOMAIN}/nick`,
  `room0@${FUZZ_MUC_DOMAIN}//`,
  `ROOM0@${FUZZ_MUC_DOMAIN.toUpperCase()}/Nick`,
  `room0@${FUZZ_MUC_DOMAIN}.`,
  `room0@[::1]`,
  `room0@127.0.0.1/x`,
  `room\u00000@${FUZZ_MUC_DOMAIN}`,
  `r\u200boom@${FUZZ_MUC_DOMAIN}/n`,
  `room"0@${FUZZ_MUC_DOMAIN}`,
  `room0@${FUZZ_MUC_DOMAIN}/\u202e`,
  `room0@${FUZZ_MUC_DOMAIN}/\u0301`,
  `${'x'.repeat(1100)}@${FUZZ_MUC_DOMAIN}`,
  `room0@${FUZZ_MUC_DOMAIN}/${'n'.repeat(1100)}`,
  `room0@${'d'.repeat(300)}`,
  `room0@${FUZZ_MUC_DOMAIN}:5222`,
];

export function userJid(index: number, resource = false): string {
  return `fuzz${index}@${FUZZ_DOMAIN}${resource ? '/fuzz' : ''}`;
}

/** Picks a JID: mostly rooms and occupants of the shared pool, sometimes anything. */
function jid(rng: Random): string {
  const room = `room${rng.int(ROOMS)}@${FUZZ_MUC_DOMAIN}`;
  switch (rng.int(8)) {
    case 0:
    case 1:
      return room;
    case 2:
    case 3:
      return `${room}/${rng.pick(['nick', 'Nick', 'fuzz0', 'fuzz1', 'owner', rng.pick(NASTY)])}`;
    case 4:
      return userJid(rng.int(FUZZ_USERS), rng.chance(0.5));
    case 5:
      return rng.pick([FUZZ_MUC_DOMAIN, FUZZ_DOMAIN, 'elsewhere.example', '']);
    default:
      return rng.pick(INVALID_JIDS);
  }
}

/** A value for an attribute or text: from the corpus, a JID, something nasty or something huge. */
function value(rng: Random, fromCorpus: readonly string[]): string {
  switch (rng.int(10)) {
    case 0:
    case 1:
      return jid(rng);
    case 2:
    case 3:
      return rng.pick(NASTY);
    case 4:
      return huge(rng);
    default:
      return rng.pick(fromCorpus.length > 0 ? fromCorpus : NASTY);
  }
}

/** A long string: usually a few kilobytes, rarely past the stanza size limit. */
function huge(rng: Random): string {
  const unit = rng.pick(['a', 'é', '\u{1f600}', 'x y ', '&', '<>', '\u0301']);
  const length = rng.chance(0.02) ? 70_000 + rng.int(40_000) : rng.size(4000);
  return unit.repeat(length);
}

/** The corpus stanza with its script JIDs and rooms moved onto the fuzz users and rooms. */
function fromCorpus(rng: Random): string {
  return rng
    .pick(corpus().stanzas)
    .replace(/\$\{[^}]*\}/g, () => escapeAttribute(userJid(rng.int(FUZZ_USERS), rng.chance(0.5))))
    .replace(new RegExp(`[^\\s"'@/<>]+@${FUZZ_MUC_DOMAIN.replace(/\./g, '\\.')}`, 'g'), () => `room${rng.int(ROOMS)}@${FUZZ_MUC_DOMAIN}`);
}

function element(rng: Random, shape: Shape, depth: number): string {
  const { attributeNames, attributeValues, shapes, texts } = corpus();
  const attrs: string[] = [];
  if (shape.xmlns !== undefined && !rng.chance(0.05)) attrs.push(`xmlns='${escapeAttribute(shape.xmlns)}'`);
  for (let i = rng.size(5); i > 0; i--) attrs.push(`${rng.pick(attributeNames)}='${escapeAttribute(value(rng, attributeValues))}'`);
  const children: string[] = [];
  if (depth > 0) {
    for (let i = rng.size(5); i > 0; i--) {
      children.push(rng.chance(0.3) ? escapeText(value(rng, texts)) : element(rng, rng.pick(shapes), depth - 1));
    }
  }
  const open = [shape.name, ...attrs].join(' ');
  return children.length === 0 ? `<${open}/>` : `<${open}>${children.join('')}</${shape.name}>`;
}

/** A data form: the field names and types MUC forms use, with values good and bad. */
function dataForm(rng: Random): string {
  const { attributeValues, texts } = corpus();
  const vars = attributeValues.filter((v) => v.includes('#') || v === 'FORM_TYPE');
  const types = ['boolean', 'list-single', 'list-multi', 'text-single', 'text-multi', 'jid-single', 'jid-multi', 'hidden', 'fixed', 'bogus'];
  const fields: string[] = [];
  for (let i = rng.size(20); i > 0; i--) {
    const values: string[] = [];
    for (let j = rng.size(5); j > 0; j--) values.push(`<value>${escapeText(value(rng, [...texts, '0', '1', 'true', 'false', 'anyone', 'moderators']))}</value>`);
    const type = rng.chance(0.3) ? ` type='${rng.pick(types)}'` : '';
    fields.push(`<field var='${escapeAttribute(rng.chance(0.9) ? rng.pick(vars) : value(rng, attributeValues))}'${type}>${values.join('')}</field>`);
  }
  const type = rng.pick(['submit', 'submit', 'cancel', 'form', 'result', '']);
  return `<x xmlns='jabber:x:data' type='${type}'>${fields.join('')}</x>`;
}

/** A stanza from the grammar: a MUC-shaped envelope around vocabulary elements or a form. */
function grammarStanza(rng: Random): string {
  const kind = rng.pick(['message', 'presence', 'iq'] as const);
  const types = { message: ['groupchat', 'chat', 'normal', 'error', 'headline'], presence: ['unavailable', 'error', 'probe', 'subscribe'], iq: ['get', 'set', 'set', 'result', 'error'] }[kind];
  const attrs = [`to='${escapeAttribute(jid(rng))}'`];
  if (kind === 'iq' || rng.chance(0.3)) attrs.push(`id='${escapeAttribute(rng.chance(0.9) ? `f${rng.int(1e6)}` : value(rng, []))}'`);
  if (kind !== 'presence' || rng.chance(0.3)) attrs.push(`type='${rng.chance(0.95) ? rng.pick(types) : rng.pick(NASTY)}'`);
  const { shapes } = corpus();
  const children: string[] = [];
  for (let i = kind === 'iq' ? 1 : rng.size(4); i > 0; i--) {
    if (rng.chance(0.2)) {
      const wrapper = rng.pick(shapes.filter((shape) => shape.name === 'query' || shape.name === 'x' || shape.name === 'command'));
      children.push(`<${wrapper.name} xmlns='${escapeAttribute(wrapper.xmlns ?? '')}'>${dataForm(rng)}</${wrapper.name}>`);
    } else children.push(element(rng, rng.pick(shapes), 3));
  }
  return `<${kind} ${attrs.join(' ')}>${children.join('')}</${kind}>`;
}

/** One random change to an XML text. */
function mutateXml(rng: Random, text: string): string {
  const at = rng.int(text.length + 1);
  const { stanzas, shapes, attributeNames, texts } = corpus();
  switch (rng.int(12)) {
    case 0:
      return text.slice(0, at);
    case 1:
      return text.slice(0, at) + rng.pick(NASTY) + text.slice(at);
    case 2:
      return text.slice(0, at) + text.slice(at + rng.size(200));
    case 3: {
      const span = text.slice(at, at + rng.size(400));
      return text.slice(0, at) + span.repeat(1 + rng.size(50)) + text.slice(at);
    }
    case 4: {
      const matches = [...text.matchAll(/(\s[\w:#-]+=)(['"])(.*?)\2/g)];
      if (matches.length === 0) return text;
      const match = rng.pick(matches);
      const replacement = rng.chance(0.7) ? escapeAttribute(value(rng, [])) : value(rng, []).replace(/['"]/g, '');
      return text.slice(0, match.index) + `${match[1]}'${replacement}'` + text.slice(match.index! + match[0].length);
    }
    case 5: {
      const matches = [...text.matchAll(/>([^<]*)</g)];
      if (matches.length === 0) return text;
      const match = rng.pick(matches);
      return text.slice(0, match.index! + 1) + escapeText(value(rng, texts)) + text.slice(match.index! + match[0].length - 1);
    }
    case 6: {
      // Deep nesting inside the stanza's first element.
      const close = text.indexOf('>');
      if (close < 0 || text[close - 1] === '/') return text;
      const shape = rng.pick(shapes);
      const depth = 1 + rng.size(rng.chance(0.1) ? 300 : 60);
      return text.slice(0, close + 1) + `<${shape.name}>`.repeat(depth) + `</${shape.name}>`.repeat(depth) + text.slice(close + 1);
    }
    case 7: {
      const matches = [...text.matchAll(/<\/?([\w:-]+)/g)];
      if (matches.length === 0) return text;
      const match = rng.pick(matches);
      const start = match.index! + match[0].length - match[1]!.length;
      return text.slice(0, start) + rng.pick(shapes).name + text.slice(start + match[1]!.length);
    }
    case 8: {
      const close = text.indexOf('>');
      if (close < 0 || text[close - 1] === '/') return text;
      return text.slice(0, close + 1) + fromCorpus(rng) + text.slice(close + 1);
    }
    case 9: {
      const space = text.indexOf(' ');
      if (space < 0) return text;
      const extra = Array.from({ length: 1 + rng.size(150) }, (_, i) => ` ${rng.pick(attributeNames)}${i}='${escapeAttribute(rng.pick(NASTY))}'`);
      return text.slice(0, space) + extra.join('') + text.slice(space);
    }
    case 10: {
      const matches = [...text.matchAll(/xmlns=(['"])(.*?)\1/g)];
      if (matches.length === 0) return text;
      const match = rng.pick(matches);
      const other = rng.pick(shapes).xmlns ?? '';
      return text.slice(0, match.index) + `xmlns='${escapeAttribute(other)}'` + text.slice(match.index! + match[0].length);
    }
    default:
      return text.slice(0, at) + rng.pick(stanzas).slice(0, rng.int(200)) + text.slice(at);
  }
}

function mutateTimes(rng: Random, text: string): string {
  let out = text;
  for (let i = rng.chance(0.3) ? 0 : 1 + rng.size(4); i > 0; i--) out = mutateXml(rng, out);
  return out;
}

/** A stanza for a logged-in session: corpus or grammar, then mutated (or not). */
export function stanzaInput(seed: number, index: number): string {
  const rng = new Random(seed, index * 8);
  return mutateTimes(rng, rng.chance(0.6) ? fromCorpus(rng) : grammarStanza(rng));
}

const STREAM_HEADER = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='${FUZZ_DOMAIN}' version='1.0'>`;

/** What a fresh connection sends before (and instead of) logging in: headers, SASL, stanzas, all mutated. */
export function streamInput(seed: number, index: number): string {
  const rng = new Random(seed, index * 8 + 1);
  const parts = [rng.chance(0.9) ? STREAM_HEADER : mutateXml(rng, STREAM_HEADER)];
  for (let i = rng.size(4); i > 0; i--) {
    switch (rng.int(4)) {
      case 0:
        parts.push(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='${rng.pick(['PLAIN', 'SCRAM-SHA-1', 'SCRAM-SHA-256', 'ANONYMOUS', 'X', ''])}'>${rng.chance(0.5) ? Buffer.from(`\0fuzz${rng.int(99)}\0${rng.pick(NASTY)}`).toString('base64') : escapeText(value(rng, []))}</auth>`);
        break;
      case 1:
        parts.push(rng.pick([STREAM_HEADER, `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`, '</stream:stream>', `<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${escapeText(value(rng, []))}</response>`]));
        break;
      default:
        parts.push(rng.chance(0.5) ? fromCorpus(rng) : grammarStanza(rng));
    }
  }
  return mutateTimes(rng, parts.join(''));
}

/** A JID-like string: valid, invalid, or a mutation of either. */
export function jidInput(seed: number, index: number): string {
  const rng = new Random(seed, index * 8 + 2);
  let text = jid(rng);
  for (let i = rng.size(4); i > 0; i--) {
    const at = rng.int(text.length + 1);
    text = rng.chance(0.5) ? text.slice(0, at) + rng.pick([...NASTY, '@', '/', '.', 'ß', 'İ']) + text.slice(at) : text.slice(0, at) + text.slice(at + rng.size(20));
  }
  return text;
}

/** A data form, mutated. */
export function formInput(seed: number, index: number): string {
  const rng = new Random(seed, index * 8 + 3);
  return mutateTimes(rng, dataForm(rng));
}

/** Lines of a text (a scansion script, a YAML file) cut, doubled, moved or changed. */
export function mutateLines(rng: Random, text: string): string {
  const lines = text.split('\n');
  for (let i = 1 + rng.size(6); i > 0; i--) {
    const at = rng.int(lines.length);
    switch (rng.int(6)) {
      case 0:
        lines.splice(at, 1 + rng.size(10));
        break;
      case 1:
        lines.splice(at, 0, ...lines.slice(rng.int(lines.length), rng.int(lines.length)));
        break;
      case 2:
        lines[at] = (lines[at] ?? '').replace(/:\s.*$/, `: ${rng.pick([...NASTY, '[]', '{}', '-5', '1.5', 'null', '~', '!!binary x', '*a', '&a b', huge(rng)])}`);
        break;
      case 3:
        lines[at] = ' '.repeat(rng.int(8)) + (lines[at] ?? '').trimStart();
        break;
      case 4:
        lines[at] = mutateXml(rng, lines[at] ?? '');
        break;
      default:
        lines.length = at;
    }
  }
  return lines.join('\n');
}
