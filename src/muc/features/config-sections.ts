// The sections of the room configuration form, as Prosody lays it out: each
// starts with its heading, and a module places a field by naming its section
// and its rank there (the hooks run by descending priority, so a section's
// heading comes first and its fields follow by rank).

import type { RoomFeature } from '../events.js';

const SECTIONS = {
  information: { priority: 100, heading: 'Room information' },
  access: { priority: 90, heading: 'Access to the room' },
  permissions: { priority: 80, heading: 'Permissions in the room' },
  other: { priority: 70, heading: 'Other options' },
} as const;

export type FormSection = keyof typeof SECTIONS;

/** The 'config-form' priority of a field: in `section`, at `rank` (1 to 9; equal ranks keep the order modules were added). */
export function inSection(section: FormSection, rank: number): number {
  return SECTIONS[section].priority - rank;
}

export const configSections: RoomFeature = (hooks) => {
  for (const { priority, heading } of Object.values(SECTIONS)) {
    hooks.on('config-form', ({ fields }) => void fields.push({ type: 'fixed', value: heading }), priority);
  }
};
