// Delayed delivery (XEP-0203) for what reaches a client late: the stanzas a
// resumed session replays (XEP-0198) and those client state indication held
// (XEP-0352) carry the time they were first queued, as Prosody's mod_smacks
// and mod_csi_simple stamp them. An iq is never stamped, nor a stanza that
// already says when it was sent (a room's history, an offline message): its
// first stamp is the one that tells the client the time it happened.

import { escapeAttribute } from '../xml/escape.js';
import { childElements, startTagAttribute, withChild } from '../xml/serialized.js';
import { NS_DELAY } from './namespaces.js';

/** `stanza` (serialized) stamped as delayed by `from` since `at` (ms since the epoch), unless it is an iq or already carries a delay. */
export function delayed(stanza: string, from: string, at: number): string {
  // Only a stanza that names the namespace somewhere is worth parsing for a stamp of its own.
  if (stanza.startsWith('<iq') || (stanza.includes(NS_DELAY) && childElements(stanza).some(isDelay))) return stanza;
  return withChild(stanza, delayElement(from, at));
}

/** The last stamp made: a replay or a flush stamps runs of stanzas queued in the same millisecond. */
let lastStamp = { from: '', at: NaN, xml: '' };

function delayElement(from: string, at: number): string {
  if (from !== lastStamp.from || at !== lastStamp.at) {
    lastStamp = { from, at, xml: `<delay xmlns='${NS_DELAY}' from='${escapeAttribute(from)}' stamp='${new Date(at).toISOString()}'/>` };
  }
  return lastStamp.xml;
}

function isDelay(child: string): boolean {
  return child.startsWith('<delay') && startTagAttribute(child, 'xmlns') === NS_DELAY;
}
