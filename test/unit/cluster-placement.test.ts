// Rendezvous placement, the membership view, the session directory and the
// batch encoding of a cluster node, without NATS: the properties the routing
// relies on.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { emptyBatch, encodeBatch, type Batch } from '../../src/cluster/batch.js';
import { SessionDirectory } from '../../src/cluster/directory.js';
import { Membership, type MembershipChange } from '../../src/cluster/membership.js';
import { ownerOf } from '../../src/cluster/placement.js';
import { el } from '../../src/xml/element.js';

const ROOMS = Array.from({ length: 5000 }, (_, i) => `room-${i}@conference.example`);

function owners(members: string[]): Map<string, string> {
  return new Map(ROOMS.map((room) => [room, ownerOf(room, members)!]));
}

describe('rendezvous placement', () => {
  it('gives every room one owner, whatever the order of the members, and spreads them evenly', () => {
    const placed = owners(['n1', 'n2', 'n3']);
    assert.deepEqual(owners(['n3', 'n1', 'n2']), placed);
    for (const node of ['n1', 'n2', 'n3']) {
      const share = [...placed.values()].filter((owner) => owner === node).length / ROOMS.length;
      assert.ok(share > 0.28 && share < 0.39, `${node} owns ${share} of the rooms`);
    }
    assert.equal(ownerOf('room@conference.example', []), undefined);
  });

  it('moves only the rooms of a node that leaves, to the others', () => {
    const before = owners(['n1', 'n2', 'n3', 'n4']);
    const after = owners(['n1', 'n2', 'n4']);
    for (const room of ROOMS) {
      if (before.get(room) === 'n3') assert.notEqual(after.get(room), 'n3');
      else assert.equal(after.get(room), before.get(room), `${room} moved though its owner stayed`);
    }
  });

  it('moves to a node that joins only rooms that now go to it, about their share', () => {
    const before = owners(['n1', 'n2', 'n3']);
    const after = owners(['n1', 'n2', 'n3', 'n4']);
    let moved = 0;
    for (const room of ROOMS) {
      if (after.get(room) === before.get(room)) continue;
      assert.equal(after.get(room), 'n4', `${room} moved between old members`);
      moved++;
    }
    assert.ok(moved / ROOMS.length > 0.2 && moved / ROOMS.length < 0.3, `${moved} rooms moved`);
  });
});

describe('membership view', () => {
  it('counts a node in at its first heartbeat and out after the timeout or when it leaves', () => {
    const changes: MembershipChange[] = [];
    const view = new Membership('n1', 1000, (change) => changes.push(change));
    assert.deepEqual(view.members, ['n1']);
    assert.equal(view.heard('n3', 0), true);
    assert.equal(view.heard('n2', 0), true);
    assert.equal(view.heard('n2', 600), false);
    assert.equal(view.heard('n1', 600), false);
    assert.deepEqual(view.members, ['n1', 'n2', 'n3']);
    view.sweep(1000);
    assert.deepEqual(view.members, ['n1', 'n2', 'n3']);
    view.sweep(1001);
    assert.deepEqual(view.members, ['n1', 'n2']);
    view.leaving('n2');
    assert.deepEqual(view.members, ['n1']);
    assert.deepEqual(
      changes.map(({ joined, left }) => [joined, left]),
      [[['n3'], []], [['n2'], []], [[], ['n3']], [[], ['n2']]],
    );
  });
});

describe('session directory', () => {
  it('finds the node of a full JID and every node of a bare JID, and forgets a node that is out', () => {
    const directory = new SessionDirectory();
    directory.bound('n2', 'alice@example/phone');
    directory.bound('n3', 'alice@example/laptop');
    directory.bound('n3', 'bob@example/desk');
    assert.deepEqual(directory.nodesServing('alice@example/phone'), ['n2']);
    assert.deepEqual([...directory.nodesServing('alice@example')].sort(), ['n2', 'n3']);
    assert.deepEqual(directory.nodesServing('carol@example/x'), []);

    // A full JID bound again elsewhere (a resource conflict resolved on another node) moves.
    directory.bound('n3', 'alice@example/phone');
    assert.deepEqual(directory.nodesServing('alice@example'), ['n3']);
    directory.ended('n2', 'alice@example/phone');
    assert.deepEqual(directory.nodesServing('alice@example/phone'), ['n3']);

    directory.replace('n2', ['dave@example/a']);
    directory.drop('n3');
    assert.deepEqual(directory.nodesServing('alice@example'), []);
    assert.deepEqual(directory.nodesServing('bob@example/desk'), []);
    assert.deepEqual(directory.nodesServing('dave@example'), ['n2']);
  });
});

describe('batch encoding', () => {
  it('cuts a batch into messages under the payload limit, every kind in order, and names the stanzas of each', () => {
    const batch: Batch = emptyBatch();
    for (let i = 0; i < 40; i++) batch.rooms.push(el('message', { to: `r${i}@conference.example` }, el('body', {}, 'é'.repeat(100))));
    for (let i = 0; i < 40; i++) batch.deliveries.push({ head: '<message', tail: ` id='${i}'/>`, to: [`u${i}@example/r`] });
    batch.stanzas.push(el('message', { to: 'u@example/r', id: 'last' }));
    const limit = 1000;
    const messages = encodeBatch(batch, limit);
    assert.ok(messages.length > 10, `${messages.length} messages`);
    for (const { payload } of messages) assert.ok(Buffer.byteLength(payload) <= limit, `${Buffer.byteLength(payload)} bytes`);

    const decoded = messages.map(({ payload }) => JSON.parse(payload) as Batch);
    assert.deepEqual(decoded.flatMap((part) => part.rooms.map((stanza) => stanza.attrs.to)), batch.rooms.map((stanza) => stanza.attrs.to));
    assert.deepEqual(decoded.flatMap((part) => part.deliveries), batch.deliveries);
    assert.deepEqual(decoded.flatMap((part) => part.stanzas.map((stanza) => stanza.attrs.id)), ['last']);
    assert.deepEqual(messages.flatMap(({ stanzas }) => stanzas), [...batch.rooms, ...batch.stanzas]);
    assert.equal(encodeBatch(batch, 1024 * 1024).length, 1);
  });
});
