// Which live node owns a room: rendezvous (highest-random-weight) hashing of
// the bare room JID over the members. Every node computes the same owner from
// the same member list, with nothing to agree on, and a membership change
// moves only the rooms it must: those of a node that left, and those that
// now score highest on a node that joined.

/** The owner of `roomJid` among `members` (undefined when there are none). */
export function ownerOf(roomJid: string, members: readonly string[]): string | undefined {
  let owner: string | undefined;
  let best = -1;
  for (const node of members) {
    const weight = score(node, roomJid);
    // Ties (rare in 32 bits) go to the smaller name, so every node breaks them alike.
    if (weight > best || (weight === best && owner !== undefined && node < owner)) {
      owner = node;
      best = weight;
    }
  }
  return owner;
}

/** A well-mixed 32-bit weight of the pair: FNV-1a over both, then murmur3's finalizer. */
function score(node: string, roomJid: string): number {
  let hash = 0x811c9dc5;
  hash = fnv(hash, node);
  hash = Math.imul(hash ^ 0x1f, 0x01000193);
  hash = fnv(hash, roomJid);
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

function fnv(hash: number, text: string): number {
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash;
}
