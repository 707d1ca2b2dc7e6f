// A room setting that one field of the configuration form edits and nothing
// more: the field, at its place in the form (config-sections.ts), shows the setting's
// value, and a submitted value that changes the setting is announced with
// status 104. Modules whose settings do more on a change (members-only,
// whois, presence broadcast, …) hook the form events themselves.

import type { FieldValue, FormField } from '../dataform.js';
import type { RoomHooks } from '../events.js';
import type { RoomSetting } from '../settings.js';

/** How a setting's value is shown in the form, and read back from a submitted (already type-checked) value. */
export interface FieldCodec<T> {
  show(value: T): FieldValue | undefined;
  read(submitted: unknown): T;
}

/** A boolean field; one submitted without a value is off. */
export const FLAG: FieldCodec<boolean> = {
  show: (value) => value,
  read: (submitted) => submitted === true,
};

/** An optional text, shown as '' when unset (as Prosody fills these fields); an empty one unsets it. */
export const TEXT: FieldCodec<string | undefined> = {
  show: (value) => value ?? '',
  read: (submitted) => (submitted as string) || undefined,
};

export function configField<T>(
  hooks: RoomHooks,
  setting: RoomSetting<T>,
  field: Omit<FormField, 'value'> & { var: string },
  place: number,
  codec: FieldCodec<T>,
): void {
  hooks.on('config-form', ({ room, fields }) => void fields.push({ ...field, value: codec.show(room.get(setting)) }), place);
  hooks.on(`config-submitted/${field.var}`, ({ room, value, statusCodes }) => {
    if (room.set(setting, codec.read(value))) statusCodes.add('104');
  });
}
