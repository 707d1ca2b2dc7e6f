// Types for the part of `@xmpp/jid` (it ships none) that Conclave uses: the JID
// tests check that our splitting agrees with it.

declare module '@xmpp/jid' {
  export class JID {
    constructor(local: string | null | undefined, domain: string, resource?: string | null);
    readonly local: string;
    readonly domain: string;
    readonly resource: string;
    toString(): string;
  }
  export function parse(text: string): JID;
}
