// The permission matrix of role and affiliation changes (XEP-0045 §§8–10 as
// Prosody applies it), each case in a room of its own: who asks (their
// affiliation and role), whom it is about, what is asked, and the answer.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MucHarness, adminSet, errorCondition } from './muc-harness.js';

const CREATOR = 'creator@localhost/desk';
const ACTOR = 'actor@localhost/desk';
const TARGET = 'target@localhost/desk';
const SERVICE_ADMIN = 'sysop@localhost';

/** An occupant as "affiliation/role", e.g. "none/moderator"; "owner/-" is the creator, not a second user. */
type Who = string;

let rooms = 0;

/**
 * A room where the actor and, unless absent, the target are in with the given
 * affiliations and roles, arranged by the creator (or the actor is the creator).
 */
function arrange(muc: MucHarness, actor: Who, target: Who | undefined): { room: string; actorJid: string } {
  const room = `matrix${++rooms}@conference.localhost`;
  muc.createRoom(CREATOR, 'Creator', room);
  const actorJid = actor === 'owner/-' ? CREATOR : ACTOR;
  const place = (jid: string, nick: string, who: Who): void => {
    const [affiliation, role] = who.split('/');
    if (affiliation !== 'none') muc.receive(adminSet(CREATOR, `<item jid='${jid.split('/')[0]}' affiliation='${affiliation}'/>`, room));
    muc.join(jid, nick, room);
    if (role !== '-' && role !== defaultRole(affiliation)) muc.receive(adminSet(CREATOR, `<item nick='${nick}' role='${role}'/>`, room));
  };
  if (actorJid !== CREATOR) place(ACTOR, 'Actor', actor);
  if (target !== undefined) place(TARGET, 'Target', target);
  for (const stanza of muc.take(CREATOR)) if (stanza.name === 'iq') assert.equal(stanza.attrs.type, 'result', 'arranged');
  muc.take(ACTOR);
  muc.take(TARGET);
  return { room, actorJid };
}

function defaultRole(affiliation: string): string {
  return affiliation === 'owner' || affiliation === 'admin' ? 'moderator' : 'participant';
}

/** What the actor's request got: 'ok' or the error condition. */
function ask(muc: MucHarness, room: string, actorJid: string, item: string): string {
  muc.receive(adminSet(actorJid, item, room));
  const answer = muc.take(actorJid).find((stanza) => stanza.name === 'iq');
  assert.ok(answer, 'an iq answer');
  return answer.attrs.type === 'result' ? 'ok' : (errorCondition(answer) ?? 'no condition');
}

describe('who may change whose role', () => {
  let muc: MucHarness;
  before(async () => {
    muc = await MucHarness.start();
  });
  after(() => muc.close());

  // [actor, target, new role, answer]
  const cases: [Who, Who, string, string][] = [
    // A moderator without affiliation: participants and visitors of no higher affiliation.
    ['none/moderator', 'none/participant', 'none', 'ok'],
    ['none/moderator', 'none/participant', 'visitor', 'ok'],
    ['none/moderator', 'none/visitor', 'participant', 'ok'],
    ['none/moderator', 'none/participant', 'moderator', 'not-allowed'],
    ['none/moderator', 'none/moderator', 'none', 'not-allowed'],
    ['none/moderator', 'member/participant', 'none', 'not-allowed'],
    ['none/moderator', 'admin/moderator', 'none', 'not-allowed'],
    ['none/moderator', 'owner/moderator', 'none', 'not-allowed'],
    ['member/moderator', 'member/participant', 'visitor', 'ok'],
    ['member/moderator', 'none/moderator', 'participant', 'not-allowed'],
    // Admins: anyone up to admins, moderators included; never owners.
    ['admin/moderator', 'none/participant', 'moderator', 'ok'],
    ['admin/moderator', 'none/moderator', 'participant', 'ok'],
    ['admin/moderator', 'member/participant', 'none', 'ok'],
    ['admin/moderator', 'admin/moderator', 'none', 'ok'],
    ['admin/moderator', 'owner/moderator', 'none', 'not-allowed'],
    ['admin/moderator', 'owner/moderator', 'participant', 'not-allowed'],
    // Owners: anyone.
    ['owner/-', 'admin/moderator', 'participant', 'ok'],
    ['owner/-', 'owner/moderator', 'none', 'ok'],
    ['owner/-', 'none/visitor', 'moderator', 'ok'],
    // Without the moderator role, nothing, whatever the affiliation.
    ['none/participant', 'none/participant', 'none', 'not-allowed'],
    ['member/participant', 'none/participant', 'visitor', 'not-allowed'],
    ['admin/participant', 'none/participant', 'none', 'not-allowed'],
    ['none/visitor', 'none/participant', 'none', 'not-allowed'],
  ];

  for (const [actor, target, role, expected] of cases) {
    it(`${actor} sets ${target} to ${role}: ${expected}`, () => {
      const { room, actorJid } = arrange(muc, actor, target);
      assert.equal(ask(muc, room, actorJid, `<item nick='Target' role='${role}'/>`), expected);
    });
  }

  it('an owner who is not in the room may not change roles', () => {
    const { room } = arrange(muc, 'owner/-', 'none/participant');
    muc.receive(`<presence from='${CREATOR}' to='${room}/Creator' type='unavailable'/>`);
    muc.take(CREATOR);
    assert.equal(ask(muc, room, CREATOR, `<item nick='Target' role='none'/>`), 'not-allowed');
  });
});

describe('who may change whose affiliation', () => {
  let muc: MucHarness;
  before(async () => {
    muc = await MucHarness.start({ admins: [SERVICE_ADMIN] });
  });
  after(() => muc.close());

  const affiliations = ['owner', 'admin', 'member', 'none', 'outcast'];
  const fromAdmin = new Set(['member', 'none', 'outcast']);

  // An owner may do anything to others; an admin only move between member, none and outcast.
  for (const actor of ['owner/-', 'admin/moderator']) {
    for (const previous of affiliations) {
      for (const next of affiliations) {
        const expected = actor === 'owner/-' || (fromAdmin.has(previous) && fromAdmin.has(next)) ? 'ok' : 'not-allowed';
        it(`${actor} changes an absent ${previous} to ${next}: ${expected}`, () => {
          const { room, actorJid } = arrange(muc, actor, undefined);
          if (previous !== 'none') muc.receive(adminSet(CREATOR, `<item jid='target@localhost' affiliation='${previous}'/>`, room));
          muc.take(CREATOR);
          assert.equal(ask(muc, room, actorJid, `<item jid='target@localhost' affiliation='${next}'/>`), expected);
        });
      }
    }
  }

  for (const actor of ['member/participant', 'none/moderator', 'none/participant']) {
    it(`${actor} may change no affiliation, not even its own`, () => {
      const { room, actorJid } = arrange(muc, actor, undefined);
      assert.equal(ask(muc, room, actorJid, `<item jid='target@localhost' affiliation='member'/>`), 'not-allowed');
      assert.equal(ask(muc, room, actorJid, `<item jid='actor@localhost' affiliation='none'/>`), 'not-allowed');
    });
  }

  it('an admin may not change its own affiliation', () => {
    const { room, actorJid } = arrange(muc, 'admin/moderator', undefined);
    assert.equal(ask(muc, room, actorJid, `<item jid='actor@localhost' affiliation='member'/>`), 'not-allowed');
  });

  it('the last owner may not step down (conflict), one of two may', () => {
    const { room } = arrange(muc, 'owner/-', undefined);
    for (const next of ['admin', 'member', 'none', 'outcast']) {
      assert.equal(ask(muc, room, CREATOR, `<item jid='creator@localhost' affiliation='${next}'/>`), 'conflict');
    }
    assert.equal(ask(muc, room, CREATOR, `<item jid='target@localhost' affiliation='owner'/>`), 'ok');
    assert.equal(ask(muc, room, CREATOR, `<item jid='creator@localhost' affiliation='admin'/>`), 'ok');
  });

  it('a service admin stays owner of every room (not-acceptable)', () => {
    const { room } = arrange(muc, 'owner/-', undefined);
    assert.equal(ask(muc, room, CREATOR, `<item jid='${SERVICE_ADMIN}' affiliation='outcast'/>`), 'not-acceptable');
    assert.equal(ask(muc, room, CREATOR, `<item jid='${SERVICE_ADMIN}' affiliation='owner'/>`), 'ok');
  });
});
