// The account services a standalone server runs, in the order they hook in.

import blocking from './blocking.js';
import carbons from './carbons.js';
import guests from './guests.js';
import offlineMessages from './offline.js';
import pep from './pep.js';
import privateStorage from './private-storage.js';
import roster from './roster.js';
import type { AccountContext } from './services.js';
import entityTime from './time.js';
import vcards from './vcard.js';
import softwareVersion from './version.js';

const MODULES: ((context: AccountContext) => void)[] = [guests, roster, pep, blocking, carbons, offlineMessages, privateStorage, vcards, softwareVersion, entityTime];

export function loadAccountModules(context: AccountContext): void {
  for (const load of MODULES) load(context);
}
