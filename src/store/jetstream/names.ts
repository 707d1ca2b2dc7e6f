// How JIDs become NATS names, and how JetStream says a conditional write lost.

/**
 * A JID as a KV key or subject token: base64url, whose alphabet both allow,
 * as a JID may hold characters (".", "*", spaces, any Unicode) they do not.
 */
export function toToken(jid: string): string {
  return Buffer.from(jid).toString('base64url');
}

export function fromToken(token: string): string {
  return Buffer.from(token, 'base64url').toString();
}

/** JetStream refused a write conditional on a revision (or a subject's last sequence) that has moved. */
export function isWrongRevision(err: unknown): boolean {
  return err instanceof Error && /wrong last sequence/i.test(err.message);
}
