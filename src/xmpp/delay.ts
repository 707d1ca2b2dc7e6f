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

/**
 * Stamps made lately, by stamper and time: stanzas queued in the same
 * millisecond are many (a room's broadcast reaches every hibernating
 * occupant at once, and each replays it), their stamps one.
 */
const stamps = new Map<string, Map<number, string>>();
const STAMPS_KEPT = 1024;

function delayElement(from: string, at: number): string {
  let byTime = stamps.get(from);
  if (byTime === undefined || byTime.size >= STAMPS_KEPT) {
    if (stamps.size >= STAMPS_KEPT) stamps.clear();
    stamps.set(from, (byTime = new Map()));
  }
  let xml = byTime.get(at);
  if (xml === undefined) byTime.set(at, (xml = `<delay xmlns='${NS_DELAY}' from='${escapeAttribute(from)}' stamp='${new Date(at).toISOString()}'/>`));
  return xml;
}

function isDelay(child: string): boolean {
  return child.startsWith('<delay') && startTagAttribute(child, 'xmlns') === NS_DELAY;
}
