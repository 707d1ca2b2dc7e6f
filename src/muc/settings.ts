// Room settings: typed keys into a room's configuration record, each owned by
// the module that gives it meaning. The record is plain data, so a persistent
// room's configuration is stored as it is. A setting at its default is absent
// from the record.

import type { RoomConfig } from '../store/interface.js';

export interface RoomSetting<T> {
  readonly key: string;
  readonly defaultValue: T;
}

export function defineSetting<T>(key: string, defaultValue: T): RoomSetting<T> {
  return { key, defaultValue };
}

export type { RoomConfig };

export function readSetting<T>(config: RoomConfig, setting: RoomSetting<T>): T {
  return Object.hasOwn(config, setting.key) ? (config[setting.key] as T) : setting.defaultValue;
}

/** Writes a setting; false when the value was already that. */
export function writeSetting<T>(config: RoomConfig, setting: RoomSetting<T>, value: T): boolean {
  if (sameValue(readSetting(config, setting), value)) return false;
  if (sameValue(value, setting.defaultValue)) delete config[setting.key];
  else config[setting.key] = value;
  return true;
}

function sameValue(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

// The settings the room core itself reads; feature modules add the form
// fields, disco features and status codes around them.

/** Who may see occupants' real JIDs: 'moderators' (semi-anonymous) or 'anyone'. */
export const WHOIS = defineSetting<'moderators' | 'anyone'>('whois', 'moderators');

/** Roles whose presence is broadcast; 'none' also shows affiliated users who are absent. */
export const PRESENCE_BROADCAST = defineSetting<string[]>('presence_broadcast', ['visitor', 'participant', 'moderator']);

/** A persistent room outlives its last occupant and is kept in storage. */
export const PERSISTENT = defineSetting<boolean>('persistent', false);
