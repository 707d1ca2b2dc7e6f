// Finds where each top-level element of an XMPP stream begins and ends, without
// parsing it. The load generator and the limit server must not be what a
// benchmark measures, so they never build element trees: they only need to know
// that a stanza is complete, then look at a few bytes of it.
//
// It tracks tag depth byte by byte inside tags (quote-aware, since attribute
// values may contain '>') and jumps with Buffer.indexOf over text and over
// attribute values.
// A `<stream:stream>` open tag at any depth starts a new stream, which covers
// the restart after SASL success without a call from outside.
//
// A pushed chunk belongs to the caller again once push returns (the load
// generator reads every socket into one shared buffer): the scanner copies the
// bytes of an unfinished stanza it must keep.

export interface StanzaSink {
  /** A `<stream:stream ...>` open tag: bytes[start, end). */
  streamHeader(bytes: Buffer, start: number, end: number): void;
  /** A complete top-level element: bytes[start, end), valid only during the call. */
  stanza(bytes: Buffer, start: number, end: number): void;
  /** `</stream:stream>`. */
  streamEnd(): void;
}

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const QUOTE = 0x22;
const APOSTROPHE = 0x27;
const QUESTION = 0x3f;
const BANG = 0x21;
const COLON = 0x3a;
const STREAM_TAG = Buffer.from('stream:stream');
const EMPTY = Buffer.alloc(0);

export class StanzaScanner {
  /** Unconsumed bytes, owned by the scanner: they start at the current stanza or partial tag. */
  private buffer: Buffer = EMPTY;
  private position = 0;
  private depth = 0;
  /** Index of the '<' of the tag being read, or -1 while in text. */
  private tagStart = -1;
  /** The quote character of the attribute value being read, or 0. */
  private quote = 0;
  /** Index of the '<' of the top-level element being read, or -1. */
  private stanzaStart = -1;

  constructor(private readonly sink: StanzaSink) {}

  push(chunk: Buffer): void {
    const bytes = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const length = bytes.length;
    // The scan state lives in locals during the loop (the hot path of the generator).
    let i = this.position;
    let tagStart = this.tagStart;
    let quote = this.quote;
    while (i < length) {
      if (tagStart < 0) {
        const lt = bytes.indexOf(LT, i);
        if (lt < 0) {
          i = length;
          break;
        }
        tagStart = lt;
        i = lt + 1;
        continue;
      }
      if (quote !== 0) {
        const close = bytes.indexOf(quote, i);
        if (close < 0) {
          i = length;
          break;
        }
        quote = 0;
        i = close + 1;
        continue;
      }
      const c = bytes[i]!;
      if (c === QUOTE || c === APOSTROPHE) {
        quote = c;
      } else if (c === GT) {
        this.endOfTag(bytes, tagStart, i);
        tagStart = -1;
      }
      i++;
    }
    this.tagStart = tagStart;
    this.quote = quote;
    this.keepUnconsumed(bytes, i, bytes !== chunk);
  }

  private endOfTag(bytes: Buffer, start: number, gt: number): void {
    const kind = bytes[start + 1];
    if (kind === QUESTION || kind === BANG) return;
    if (kind === SLASH) {
      this.depth--;
      if (this.depth === 1 && this.stanzaStart >= 0) {
        const stanzaStart = this.stanzaStart;
        this.stanzaStart = -1;
        this.sink.stanza(bytes, stanzaStart, gt + 1);
      } else if (this.depth <= 0) {
        this.depth = 0;
        this.sink.streamEnd();
      }
      return;
    }
    // Buffer.compare is a native call: only a name with 'stream:' in place gets one.
    const nameEnd = start + 1 + STREAM_TAG.length;
    if (
      bytes[start + 7] === COLON &&
      nameEnd <= gt &&
      bytes.compare(STREAM_TAG, 0, STREAM_TAG.length, start + 1, nameEnd) === 0
    ) {
      this.depth = 1;
      this.stanzaStart = -1;
      this.sink.streamHeader(bytes, start, gt + 1);
      return;
    }
    const selfClosing = bytes[gt - 1] === SLASH;
    if (this.depth === 1) {
      if (selfClosing) {
        this.sink.stanza(bytes, start, gt + 1);
        return;
      }
      this.stanzaStart = start;
    }
    if (!selfClosing) this.depth++;
  }

  /** Keeps the bytes from the earliest incomplete construct on (a copy unless they are its own already); drops the rest. */
  private keepUnconsumed(bytes: Buffer, scanned: number, owned: boolean): void {
    let keepFrom = scanned;
    if (this.stanzaStart >= 0) keepFrom = this.stanzaStart;
    else if (this.tagStart >= 0) keepFrom = this.tagStart;
    if (keepFrom >= bytes.length) {
      this.buffer = EMPTY;
      this.position = 0;
      return;
    }
    this.buffer = owned ? bytes.subarray(keepFrom) : Buffer.from(bytes.subarray(keepFrom));
    this.position = scanned - keepFrom;
    if (this.stanzaStart >= 0) this.stanzaStart -= keepFrom;
    if (this.tagStart >= 0) this.tagStart -= keepFrom;
  }
}
