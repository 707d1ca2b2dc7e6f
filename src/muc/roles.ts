// Roles (what an occupant may do now) and affiliations (a lasting relation of a
// bare JID to the room), with their ranks as XEP-0045 orders them.

export type Role = 'none' | 'visitor' | 'participant' | 'moderator';
export type Affiliation = 'outcast' | 'none' | 'member' | 'admin' | 'owner';

export const ROLE_RANK: Readonly<Record<Role, number>> = { none: 0, visitor: 1, participant: 2, moderator: 3 };

export const AFFILIATION_RANK: Readonly<Record<Affiliation, number>> = {
  outcast: -1,
  none: 0,
  member: 1,
  admin: 2,
  owner: 3,
};

export const ROLES = Object.keys(ROLE_RANK) as Role[];

export function isRole(value: string | undefined): value is Role {
  return value !== undefined && Object.hasOwn(ROLE_RANK, value);
}

export function isAffiliation(value: string | undefined): value is Affiliation {
  return value !== undefined && Object.hasOwn(AFFILIATION_RANK, value);
}

/** What a room remembers about an affiliated bare JID. */
export interface AffiliationEntry {
  affiliation: Exclude<Affiliation, 'none'>;
  /** The nickname reserved for this JID (room registration, or `nick` in an admin item). */
  nick?: string;
  /** Why the JID was given this affiliation, as the admin said (listed in muc#admin items, as Prosody 13 does). */
  reason?: string;
  /** What feature modules keep with the affiliation, by key (hats, …); it goes with the affiliation. */
  data?: Record<string, unknown>;
}
