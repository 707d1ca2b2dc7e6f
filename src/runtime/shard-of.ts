// Which shard owns a room: the pool routes by it, and a shard uses it to know
// which stored rooms it answers for.

import { bareJid } from '../jid/jid.js';

/** The shard of a room JID (a full JID counts by its bare part) among `shardCount`. */
export function shardOf(roomJid: string, shardCount: number): number {
  return fnv1a(bareJid(roomJid).toLowerCase()) % shardCount;
}

/** 32-bit FNV-1a over the UTF-16 code units: stable across runs and machines. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
