// Delayed delivery (XEP-0203) for what reaches a client late: the stanzas a
// resumed session replays (XEP-0198) and those client state indication held
// (XEP-0352) carry the time they were first queued, as Prosody's mod_smacks
// and mod_csi_simple stamp them. An iq is never stamped, nor a stanza that
// already says when it was sent (a room's history, an offline message): its
// first stamp is the one that tells the client the time it happened.

import { el } from '../xml/element.js';
import { childElements, startTagAttribute, withChild } from '../xml/serialized.js';
import { NS_DELAY } from './namespaces.js';

/** `stanza` (serialized) stamped as delayed by `from` since `at` (ms since the epoch), unless it is an iq or already carries a delay. */
export function delayed(stanza: string, from: string, at: number): string {
  if (stanza.startsWith('<iq') || childElements(stanza).some(isDelay)) return stanza;
  return withChild(stanza, el('delay', { xmlns: NS_DELAY, from, stamp: new Date(at).toISOString() }).toString());
}

function isDelay(child: string): boolean {
  return child.startsWith('<delay') && startTagAttribute(child, 'xmlns') === NS_DELAY;
}
