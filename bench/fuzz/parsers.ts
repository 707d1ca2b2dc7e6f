// The in-process half of the fuzzer: each parser that reads what a peer or an
// operator wrote gets mutated input. A parser may refuse input only the way its
// callers expect (a stream error handler, null, ConfigError, ScriptParseError);
// anything else it throws is a finding.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_DIR, ConfigError, loadConfig } from '../../src/config/load.js';
import { parseJid, prepJid, prepNickname } from '../../src/jid/jid.js';
import { formType, readForm, type FormField } from '../../src/muc/dataform.js';
import { parseScript, ScriptParseError } from '../../src/scansion/script.js';
import { parseElement, XmppStreamParser } from '../../src/xml/stream-parser.js';
import { corpus } from './corpus.js';
import { formInput, jidInput, mutateLines, streamInput } from './generate.js';
import { Random } from './random.js';

export const PARSER_TARGETS = ['stream', 'jid', 'dataform', 'scansion', 'config'] as const;
export type ParserTarget = (typeof PARSER_TARGETS)[number];

/** One field of every type, with the options, requirements and datatypes readForm checks. */
const FORM_LAYOUT: FormField[] = [
  { var: 'FORM_TYPE', type: 'hidden', value: 'http://jabber.org/protocol/muc#roomconfig' },
  { var: 'muc#roomconfig_roomname', type: 'text-single', label: 'Name' },
  { var: 'muc#roomconfig_roomdesc', type: 'text-multi', label: 'Description' },
  { var: 'muc#roomconfig_persistentroom', type: 'boolean', label: 'Persistent' },
  { var: 'muc#roomconfig_whois', type: 'list-single', label: 'Whois', options: ['moderators', 'anyone'] },
  { var: 'muc#roomconfig_presencebroadcast', type: 'list-multi', label: 'Broadcast', options: ['visitor', 'participant', 'moderator'] },
  { var: 'muc#roomconfig_roomowners', type: 'jid-multi', label: 'Owners' },
  { var: 'muc#roomconfig_changesubject', type: 'jid-single', label: 'Who', required: true },
  { var: 'muc#roomconfig_maxusers', type: 'text-single', label: 'Max', datatype: 'xs:integer' },
  { var: 'muc#roomconfig_roomsecret', type: 'text-private', label: 'Password' },
];

export interface ParserInput {
  target: ParserTarget;
  text: string;
}

/** Parser input number `index`: which parser gets it and what it reads. */
export function parserInput(seed: number, index: number): ParserInput {
  const target = PARSER_TARGETS[index % PARSER_TARGETS.length]!;
  switch (target) {
    case 'stream':
      return { target, text: streamInput(seed, index) };
    case 'jid':
      return { target, text: jidInput(seed, index) };
    case 'dataform':
      return { target, text: formInput(seed, index) };
    case 'scansion': {
      const rng = new Random(seed, index * 8 + 4);
      return { target, text: mutateLines(rng, rng.pick(corpus().scripts)) };
    }
    case 'config': {
      const rng = new Random(seed, index * 8 + 5);
      return { target, text: mutateLines(rng, defaultYaml()) };
    }
  }
}

let defaultText: string | undefined;
function defaultYaml(): string {
  defaultText ??= readFileSync(join(CONFIG_DIR, 'default.yaml'), 'utf8');
  return defaultText;
}

/** Feeds the parsers; each call returns the error a parser should not have thrown, or null. */
export class ParserFuzzer {
  private readonly directory = mkdtempSync(join(tmpdir(), 'conclave-fuzz-'));
  private readonly configFile = join(this.directory, 'fuzz.yaml');

  run(input: ParserInput, rng: Random): Error | null {
    try {
      this.feed(input, rng);
      return null;
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  close(): void {
    rmSync(this.directory, { recursive: true, force: true });
  }

  private feed({ target, text }: ParserInput, rng: Random): void {
    switch (target) {
      case 'stream':
        return feedStream(text, rng);
      case 'jid':
        parseJid(text);
        prepJid(text);
        prepNickname(text);
        return;
      case 'dataform': {
        let form;
        try {
          form = parseElement(text);
        } catch {
          return; // Not XML: the stream parser's concern, fuzzed above.
        }
        formType(form);
        readForm(FORM_LAYOUT, form);
        return;
      }
      case 'scansion':
        try {
          parseScript(text, 'fuzz.scs');
        } catch (error) {
          if (!(error instanceof ScriptParseError)) throw error;
        }
        return;
      case 'config':
        writeFileSync(this.configFile, text);
        try {
          loadConfig({ file: this.configFile });
        } catch (error) {
          if (!(error instanceof ConfigError)) throw error;
        }
        return;
    }
  }
}

/** The bytes in random chunks (splitting characters too), as a socket would deliver them. */
function feedStream(text: string, rng: Random): void {
  const bytes = Buffer.from(text);
  let failed = false;
  const parser = new XmppStreamParser({
    streamStart: () => {},
    stanza: () => {},
    streamEnd: () => {},
    error: () => (failed = true),
  });
  for (let at = 0; at < bytes.length && !failed; ) {
    const end = Math.min(bytes.length, at + 1 + rng.size(bytes.length));
    parser.write(bytes.subarray(at, end));
    at = end;
  }
}
