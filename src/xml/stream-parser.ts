// Incremental parser for one XMPP stream: it reports the stream header, each
// top-level element (stanza) as a complete Element, and the end of the stream.
//
// XMPP forbids DTDs, comments, processing instructions and entity references
// beyond the predefined ones (RFC 6120 §11.1); saxes reports those but does not
// refuse them, so this parser turns each into a `restricted-xml` stream error.
// Limits bound the memory one peer can make us hold: a stanza larger than the
// size budget (counted from the end of the previous stanza, so an unterminated
// tag is caught too), too deep, or with too many attributes is a
// `policy-violation`.

import { SaxesParser, type SaxesTagPlain } from 'saxes';
import { Element } from './element.js';

export interface StreamLimits {
  /** Characters one stanza may take, including any bytes before it completes. */
  maxStanzaSize: number;
  /** Nesting depth of a stanza (the stanza itself is depth 1). */
  maxDepth: number;
  /** Attributes on any one element. */
  maxAttributes: number;
}

export const DEFAULT_LIMITS: StreamLimits = { maxStanzaSize: 256 * 1024, maxDepth: 100, maxAttributes: 100 };

export interface StreamHandlers {
  streamStart(header: Element): void;
  stanza(stanza: Element): void;
  streamEnd(): void;
  /** A fatal stream error: the caller sends `<stream:error>` and closes. */
  error(condition: StreamErrorCondition, text: string): void;
}

export type StreamErrorCondition =
  | 'not-well-formed'
  | 'restricted-xml'
  | 'policy-violation'
  | 'invalid-namespace'
  | 'bad-format'
  | 'invalid-xml';

export const STREAMS_NS = 'http://etherx.jabber.org/streams';

/**
 * One UTF-8 decoder for all streams: each TextDecoder holds a native ICU
 * converter, and one per connection cost memory for every idle client. Each
 * chunk is decoded up to its last whole character; the stream keeps the rest.
 * A BOM is left to saxes, which skips it at the start of a document only.
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The handler fields of a saxes parser (private in its typings), as `on()` names them. */
interface SaxesHandlerFields {
  openTagHandler(tag: SaxesTagPlain): void;
  closeTagHandler(): void;
  textHandler(text: string): void;
  cdataHandler(text: string): void;
  doctypeHandler(): void;
  commentHandler(): void;
  piHandler(): void;
  errorHandler(err: Error): void;
}

export class XmppStreamParser {
  private parser!: SaxesParser<{ xmlns: false }>;
  /** The bytes of a character that the last chunk cut in two. */
  private carry: Buffer | undefined;
  private stack: Element[] = [];
  private boundary = 0;
  /** Characters written to the current saxes parser. */
  private received = 0;
  private failed = false;
  private streamOpen = false;

  constructor(
    private readonly handlers: StreamHandlers,
    private limits: StreamLimits = DEFAULT_LIMITS,
  ) {
    this.restart();
  }

  /** Changes the limits, e.g. once the peer has authenticated. */
  setLimits(limits: StreamLimits): void {
    this.limits = limits;
  }

  /** Starts a fresh stream, as after SASL success or STARTTLS. */
  restart(): void {
    this.carry = undefined;
    this.stack = [];
    this.boundary = 0;
    this.received = 0;
    this.streamOpen = false;
    const parser = new SaxesParser({ xmlns: false, position: true });
    // The fields `on()` sets, set by name: `on()` adds each with a keyed
    // store, and after the eighth V8 turns the parser's ~55 fields into a
    // dictionary (3 KiB per connection, and slower to read while parsing).
    const handlers = parser as unknown as SaxesHandlerFields;
    handlers.openTagHandler = (tag) => this.openTag(tag);
    handlers.closeTagHandler = () => this.closeTag();
    handlers.textHandler = (text) => this.text(text);
    handlers.cdataHandler = (text) => this.text(text);
    handlers.doctypeHandler = () => this.fail('restricted-xml', 'DTDs are not allowed in XMPP');
    handlers.commentHandler = () => this.fail('restricted-xml', 'Comments are not allowed in XMPP');
    handlers.piHandler = () => this.fail('restricted-xml', 'Processing instructions are not allowed in XMPP');
    handlers.errorHandler = (err) => this.fail('not-well-formed', err.message);
    this.parser = parser;
  }

  write(chunk: Buffer | string): void {
    if (this.failed) return;
    let text: string;
    try {
      text = typeof chunk === 'string' ? chunk : this.decode(chunk);
    } catch {
      this.fail('not-well-formed', 'Invalid UTF-8');
      return;
    }
    this.received += text.length;
    try {
      this.parser.write(text);
    } catch (err) {
      // saxes throws from write() when its error handler returns; we already failed.
      if (!this.failed) this.fail('not-well-formed', (err as Error).message);
    }
    // saxes's `position` is exact only inside its event handlers: after write()
    // returns it is ahead by the length of the chunk.
    if (!this.failed && this.received - this.boundary > this.limits.maxStanzaSize) {
      this.fail('policy-violation', 'XML stanza is too big');
    }
  }

  private decode(chunk: Buffer): string {
    const bytes = this.carry === undefined ? chunk : Buffer.concat([this.carry, chunk]);
    const end = wholeCharacters(bytes);
    // A copy, so that the carry does not keep the whole chunk alive.
    this.carry = end < bytes.length ? Buffer.from(bytes.subarray(end)) : undefined;
    return UTF8.decode(bytes.subarray(0, end));
  }

  get hasFailed(): boolean {
    return this.failed;
  }

  private openTag(tag: SaxesTagPlain): void {
    if (this.failed) return;
    const attrs = tag.attributes as Record<string, string>;
    if (Object.keys(attrs).length > this.limits.maxAttributes) {
      this.fail('policy-violation', 'Too many attributes');
      return;
    }
    if (!this.streamOpen) {
      const header = new Element(tag.name, attrs);
      if (!isStreamTag(tag.name)) {
        this.fail('bad-format', 'Expected a stream header');
        return;
      }
      const prefix = tag.name.includes(':') ? tag.name.slice(0, tag.name.indexOf(':')) : undefined;
      const streamNs = prefix ? attrs['xmlns:' + prefix] : attrs.xmlns;
      if (streamNs !== STREAMS_NS) {
        this.fail('invalid-namespace', 'Invalid stream namespace');
        return;
      }
      this.streamOpen = true;
      this.boundary = this.parser.position;
      this.handlers.streamStart(header);
      return;
    }
    if (this.stack.length === 0 && isStreamTag(tag.name)) {
      // Otherwise it would be taken for a stanza that never closes.
      this.fail('invalid-xml', 'A stream header inside the stream');
      return;
    }
    if (this.stack.length >= this.limits.maxDepth) {
      this.fail('policy-violation', 'XML stanza is too deep');
      return;
    }
    const element = new Element(tag.name, attrs);
    const parent = this.stack[this.stack.length - 1];
    if (parent) parent.children.push(element);
    // saxes follows a self-closing tag's opentag with a closetag of its own.
    this.stack.push(element);
  }

  private closeTag(): void {
    if (this.failed) return;
    const element = this.stack.pop();
    if (!element) {
      // The stream element itself closed.
      this.streamOpen = false;
      this.handlers.streamEnd();
      return;
    }
    if (this.stack.length === 0) {
      // A stanza that arrived whole in one chunk is only measured here.
      if (this.parser.position - this.boundary > this.limits.maxStanzaSize) {
        this.fail('policy-violation', 'XML stanza is too big');
        return;
      }
      this.boundary = this.parser.position;
      this.handlers.stanza(element);
    }
  }

  private text(text: string): void {
    if (this.failed) return;
    const parent = this.stack[this.stack.length - 1];
    if (!parent) {
      if (this.streamOpen && text.trim() === '') this.boundary = this.parser.position;
      else if (text.trim() !== '') this.fail('not-well-formed', 'Text outside of a stanza');
      return;
    }
    const last = parent.children[parent.children.length - 1];
    if (typeof last === 'string') parent.children[parent.children.length - 1] = last + text;
    else parent.children.push(text);
  }

  private fail(condition: StreamErrorCondition, text: string): void {
    if (this.failed) return;
    this.failed = true;
    this.handlers.error(condition, text);
  }
}

function isStreamTag(name: string): boolean {
  return name === 'stream' || name.endsWith(':stream');
}

/** The length of the longest prefix of `bytes` that does not end inside a multi-byte UTF-8 sequence. */
function wholeCharacters(bytes: Buffer): number {
  // The last character starts at most three bytes before the end.
  for (let i = bytes.length - 1; i >= 0 && i >= bytes.length - 4; i--) {
    const byte = bytes[i]!;
    if (byte < 0x80) return bytes.length;
    if (byte >= 0xc0) {
      const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
      return i + length <= bytes.length ? bytes.length : i;
    }
  }
  // Continuation bytes with no lead byte: the decoder rejects them.
  return bytes.length;
}

/** Parses one complete XML element from a string (scripts, tests, config). */
export function parseElement(xml: string): Element {
  const parser = new SaxesParser({ xmlns: false });
  const stack: Element[] = [];
  let root: Element | undefined;
  parser.on('opentag', (tag) => {
    const element = new Element(tag.name, tag.attributes as Record<string, string>);
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(element);
    else if (root) throw new Error('More than one root element');
    else root = element;
    stack.push(element);
  });
  parser.on('closetag', () => void stack.pop());
  const onText = (text: string) => {
    const parent = stack[stack.length - 1];
    if (parent) parent.children.push(text);
    else if (text.trim() !== '') throw new Error('Text outside of the root element');
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.on('error', (err) => {
    throw err;
  });
  parser.write(xml).close();
  if (!root) throw new Error('No element found');
  return root;
}
