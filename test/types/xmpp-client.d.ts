// Types for the part of `@xmpp/client` (it ships none) that the interoperability test uses.

declare module '@xmpp/client' {
  import type { EventEmitter } from 'node:events';

  export interface XmlElement {
    name: string;
    attrs: Record<string, string>;
    children: (XmlElement | string)[];
    getChild(name: string, xmlns?: string): XmlElement | undefined;
    getChildText(name: string, xmlns?: string): string | null;
    toString(): string;
  }

  export interface JID {
    toString(): string;
    bare(): JID;
  }

  export interface Client extends EventEmitter {
    jid: JID | null;
    status: string;
    start(): Promise<JID>;
    stop(): Promise<void>;
    send(element: XmlElement): Promise<void>;
    iqCaller: { request(element: XmlElement, timeout?: number): Promise<XmlElement> };
    /** XEP-0198: emits 'resumed' after a resumption. */
    streamManagement: EventEmitter & { id: string; enabled: boolean };
    /** The transport: a net.Socket over TCP, a wrapper whose `socket` is the WebSocket over WebSocket. */
    socket: { destroy?(): void; socket?: { close(): void } } | null;
  }

  export function client(options: {
    service: string;
    domain: string;
    username?: string;
    password?: string;
    resource?: string;
  }): Client;

  export function xml(name: string, attrs?: Record<string, string>, ...children: (XmlElement | string)[]): XmlElement;
}
