// Types for the part of `@xmpp/jid` (it ships none) that Conclave uses: the JID
// tests check that our splitting agrees with it.

declare module '@xmpp/jid' {
  export interface JID {
    readonly local: string;
    readonly domain: string;
    readonly resource: string;
  }
  export function parse(text: string): JID;
}
