// What a cluster node knows of its own sessions' rooms (occupancy.ts), read
// from the presences it sends and is delivered, and the room a new owner
// rebuilds from the survivors' reports after a death (rehoming.ts).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LocalOccupancy, type RoomReport } from '../../src/cluster/occupancy.js';
import { inParts, rebuiltState } from '../../src/cluster/rehoming.js';
import type { Delivery } from '../../src/runtime/protocol.js';
import { parseElement } from '../../src/xml/stream-parser.js';

const ROOM = 'room@conference.example';
const ALICE = 'alice@example/phone';
const X = "xmlns='http://jabber.org/protocol/muc#user'";

/** A presence from the room as the shards deliver it: no `to`, the recipients beside it. */
function delivery(xml: string, to: string[]): Delivery {
  const at = xml.indexOf(' ');
  return { head: xml.slice(0, at), tail: xml.slice(at), to };
}

function joined(occupancy: LocalOccupancy, nick = 'Alice'): void {
  occupancy.sent(parseElement(`<presence from='${ALICE}' to='${ROOM}/${nick}'><show>away</show><x xmlns='http://jabber.org/protocol/muc'/></presence>`));
  occupancy.delivered([
    delivery(`<presence from='${ROOM}/Bob'><x ${X}><item affiliation='member' role='participant'/></x></presence>`, [ALICE]),
    delivery(`<presence from='${ROOM}/${nick}'><show>away</show><x ${X}><item affiliation='owner' role='moderator'/><status code='110'/></x></presence>`, [ALICE]),
  ]);
}

describe("a node's record of its sessions' rooms", () => {
  it('keeps the nick, role, affiliation and last presence the room showed a session, and the occupants it sees', () => {
    const occupancy = new LocalOccupancy();
    joined(occupancy);
    const report = occupancy.report(ROOM)!;
    assert.deepEqual(
      report.sessions.map(({ jid, nick, role, affiliation }) => ({ jid, nick, role, affiliation })),
      [{ jid: ALICE, nick: `${ROOM}/Alice`, role: 'moderator', affiliation: 'owner' }],
    );
    assert.equal(parseElement(report.sessions[0].presence).getChildText('show'), 'away');
    assert.deepEqual(report.seen.sort(), [
      [`${ROOM}/Alice`, 'owner'],
      [`${ROOM}/Bob`, 'member'],
    ]);
  });

  it('follows a nick change, and forgets the room when the session leaves it or ends', () => {
    const occupancy = new LocalOccupancy();
    joined(occupancy);
    occupancy.sent(parseElement(`<presence from='${ALICE}' to='${ROOM}/Ally'/>`));
    occupancy.delivered([
      delivery(`<presence from='${ROOM}/Alice' type='unavailable'><x ${X}><item affiliation='owner' role='moderator' nick='Ally'/><status code='303'/><status code='110'/></x></presence>`, [ALICE]),
      delivery(`<presence from='${ROOM}/Ally'><x ${X}><item affiliation='owner' role='moderator'/><status code='110'/></x></presence>`, [ALICE]),
    ]);
    assert.deepEqual(occupancy.report(ROOM)!.sessions.map((session) => session.nick), [`${ROOM}/Ally`]);
    occupancy.delivered([delivery(`<presence from='${ROOM}/Ally' type='unavailable'><x ${X}><item affiliation='owner' role='none'/><status code='110'/></x></presence>`, [ALICE])]);
    assert.equal(occupancy.report(ROOM), undefined);

    joined(occupancy);
    occupancy.sessionEnded(ALICE);
    assert.deepEqual([...occupancy.rooms()], []);
  });

  it('does not count a session in a room that never showed it in (a refused join)', () => {
    const occupancy = new LocalOccupancy();
    occupancy.sent(parseElement(`<presence from='${ALICE}' to='${ROOM}/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`));
    occupancy.delivered([delivery(`<presence from='${ROOM}/Alice' type='error'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`, [ALICE])]);
    assert.deepEqual([...occupancy.rooms()], []);
  });
});

describe('a room rebuilt from the survivors', () => {
  it('keeps the occupants the survivors reported and names the others as gone', () => {
    const reports: RoomReport[] = [
      {
        room: ROOM,
        sessions: [{ jid: ALICE, nick: `${ROOM}/Alice`, role: 'moderator', affiliation: 'owner', presence: `<presence from='${ALICE}' to='${ROOM}/Alice'/>` }],
        seen: [[`${ROOM}/Alice`, 'owner'], [`${ROOM}/Bob`, 'member'], [`${ROOM}/Carol`, 'none']],
      },
      {
        room: ROOM,
        sessions: [{ jid: 'bob@example/laptop', nick: `${ROOM}/Bob`, role: 'participant', affiliation: 'member', presence: `<presence/>` }],
        seen: [[`${ROOM}/Bob`, 'member'], [`${ROOM}/Carol`, 'none']],
      },
    ];
    const state = rebuiltState(reports);
    assert.deepEqual(
      state.occupants.map(({ nick, bareJid, role }) => ({ nick, bareJid, role })),
      [
        { nick: `${ROOM}/Alice`, bareJid: 'alice@example', role: 'moderator' },
        { nick: `${ROOM}/Bob`, bareJid: 'bob@example', role: 'participant' },
      ],
    );
    assert.deepEqual(state.affiliations, [
      ['alice@example', { affiliation: 'owner' }],
      ['bob@example', { affiliation: 'member' }],
    ]);
    assert.deepEqual(state.gone, [[`${ROOM}/Carol`, 'none']]);
    assert.equal(state.config, undefined);
  });
});

describe('reports sent to a new owner', () => {
  it('go in parts that each fit in a NATS message, in order, a report larger than that alone in its part', () => {
    const report = (room: string, size: number): RoomReport => ({ room, sessions: [], seen: [[`${room}/${'x'.repeat(size)}`, 'none']] });
    const reports = [report('a@c', 300), report('b@c', 300), report('c@c', 5000), report('d@c', 10)];
    const parts = inParts(reports, 2000);
    assert.deepEqual(parts.map((part) => part.map((r) => r.room)), [['a@c', 'b@c'], ['c@c'], ['d@c']]);
    assert.deepEqual(inParts([], 2000), []);
  });
});
