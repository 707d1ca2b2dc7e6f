// Entity time (XEP-0202) of the server, in UTC.

import { el } from '../xml/element.js';
import type { AccountContext } from './services.js';

const NS = 'urn:xmpp:time';

export default function entityTime({ services }: AccountContext): void {
  services.feature(NS);
  services.iq('time', NS, 'server', ({ stanza }) => {
    if (stanza.attrs.type !== 'get') return { error: 'bad-request' };
    // XEP-0082 DateTime: second precision, as servers usually answer.
    const utc = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    return el('time', { xmlns: NS }, el('tzo', {}, '+00:00'), el('utc', {}, utc));
  });
}
