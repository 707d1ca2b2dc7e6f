// The section headings of the room configuration form, placed by priority
// between the fields of the other modules, as Prosody lays the form out.

import type { RoomFeature } from '../events.js';

const SECTIONS: [number, string][] = [
  [100, 'Room information'],
  [90, 'Access to the room'],
  [80, 'Permissions in the room'],
  [70, 'Other options'],
];

export const configSections: RoomFeature = (hooks) => {
  for (const [priority, heading] of SECTIONS) {
    hooks.on('config-form', ({ fields }) => void fields.push({ type: 'fixed', value: heading }), priority);
  }
};
