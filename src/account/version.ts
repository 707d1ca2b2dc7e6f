// Software version (XEP-0092) of the server. The operating system is left
// out: it tells an attacker more than it tells a user.

import { readFileSync } from 'node:fs';
import { el } from '../xml/element.js';
import type { AccountContext } from './services.js';

const NS = 'jabber:iq:version';

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

export default function softwareVersion({ services }: AccountContext): void {
  services.feature(NS);
  services.iq('query', NS, 'server', ({ stanza }) => {
    if (stanza.attrs.type !== 'get') return { error: 'bad-request' };
    return el('query', { xmlns: NS }, el('name', {}, 'Conclave'), el('version', {}, version));
  });
}
