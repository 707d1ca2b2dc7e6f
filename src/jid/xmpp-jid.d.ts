// The part of `@xmpp/jid` (which ships no types) that Conclave uses.

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
