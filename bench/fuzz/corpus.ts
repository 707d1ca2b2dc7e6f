// The material the fuzzer starts from: every stanza our scansion scripts send
// or expect (test/scansion/), which between them reach every MUC handler, and
// the vocabulary they use (element names with their namespaces, attribute
// names and values, texts), from which the grammar builds new stanzas.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseScript } from '../../src/scansion/script.js';
import { Element } from '../../src/xml/element.js';
import { parseElement } from '../../src/xml/stream-parser.js';

const SCRIPTS = fileURLToPath(new URL('../../../test/scansion/', import.meta.url));

/** A named element with the namespace it was declared in (if any). */
export interface Shape {
  name: string;
  xmlns: string | undefined;
}

export interface Corpus {
  /** Stanza texts; JIDs of script clients are `${N's full JID}` / `${N's JID}` placeholders. */
  stanzas: string[];
  /** Script texts, for the scansion parser. */
  scripts: string[];
  shapes: Shape[];
  attributeNames: string[];
  attributeValues: string[];
  texts: string[];
}

let loaded: Corpus | undefined;

export function corpus(): Corpus {
  loaded ??= loadCorpus();
  return loaded;
}

function loadCorpus(): Corpus {
  const stanzas = new Set<string>();
  const scripts: string[] = [];
  for (const file of scriptFiles(SCRIPTS)) {
    const text = readFileSync(file, 'utf8');
    scripts.push(text);
    for (const action of parseScript(text, file).actions) {
      if (action.kind === 'send' || action.kind === 'receive') stanzas.add(action.stanza.replace(/>\s+</g, '><').trim());
    }
  }
  const shapes = new Map<string, Shape>();
  const attributeNames = new Set<string>();
  const attributeValues = new Set<string>();
  const texts = new Set<string>();
  const walk = (element: Element): void => {
    shapes.set(`${element.name} ${element.attrs.xmlns ?? ''}`, { name: element.name, xmlns: element.attrs.xmlns });
    for (const [name, value] of Object.entries(element.attrs)) {
      attributeNames.add(name);
      attributeValues.add(value);
    }
    for (const child of element.children) {
      if (typeof child === 'string') {
        if (child.trim() !== '') texts.add(child.trim());
      } else walk(child);
    }
  };
  for (const stanza of stanzas) walk(parseElement(stanza.replace(/\$\{[^}]*\}/g, 'someone@localhost')));
  if (stanzas.size === 0) throw new Error(`no scansion scripts found in ${SCRIPTS}`);
  return {
    stanzas: [...stanzas],
    scripts,
    shapes: [...shapes.values()],
    attributeNames: [...attributeNames],
    attributeValues: [...attributeValues],
    texts: [...texts],
  };
}

function scriptFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return scriptFiles(path);
    return entry.name.endsWith('.scs') ? [path] : [];
  });
}
