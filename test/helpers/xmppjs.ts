// Test support for `@xmpp/client`, the library nobody here wrote.

import type { Client, XmlElement } from '@xmpp/client';

/** The next stanza the client receives that matches. */
export function received(xmpp: Client, predicate: (stanza: XmlElement) => boolean): Promise<XmlElement> {
  return new Promise((resolve) => {
    const listener = (stanza: XmlElement) => {
      if (!predicate(stanza)) return;
      xmpp.off('stanza', listener);
      resolve(stanza);
    };
    xmpp.on('stanza', listener);
  });
}
