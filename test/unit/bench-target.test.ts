// How the load generator picks a cluster node for each client, and how a
// phase's NATS traffic is counted per node from nats-server's monitoring.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressFor, type ServerAddress } from '../../bench/load-client.js';
import { trafficBetween, type NatsSample } from '../../bench/nats-traffic.js';

const SERVER: ServerAddress = { host: '127.0.0.1', port: 5222, domain: 'localhost', mucDomain: 'conference.localhost', auth: 'plain', password: 'bench' };

test('without a spread every client goes to the one server', () => {
  assert.deepEqual([0, 1, 2].map((id) => addressFor(SERVER, id).port), [5222, 5222, 5222]);
});

test('with a spread client N goes to the Nth node in turn', () => {
  const spread = [
    { host: '127.0.0.1', port: 5301 },
    { host: '127.0.0.2', port: 5302 },
    { host: '127.0.0.3', port: 5303 },
  ];
  const addresses = [0, 1, 2, 3, 4].map((id) => addressFor({ ...SERVER, spread }, id));
  assert.deepEqual(addresses.map(({ host, port }) => `${host}:${port}`), [
    '127.0.0.1:5301',
    '127.0.0.2:5302',
    '127.0.0.3:5303',
    '127.0.0.1:5301',
    '127.0.0.2:5302',
  ]);
  assert.ok(addresses.every((address) => address.domain === 'localhost' && address.password === 'bench'));
});

test("a phase's NATS traffic is the difference of two samples, a node first seen in the second counting from zero", () => {
  const counters = (n: number) => ({ inMsgs: n, inBytes: n * 100, outMsgs: n * 2, outBytes: n * 200 });
  const before: NatsSample = { server: counters(10), nodes: { n1: counters(4) } };
  const after: NatsSample = { server: counters(30), nodes: { n2: counters(5), n1: counters(9) } };
  assert.deepEqual(trafficBetween(before, after), {
    server: counters(20),
    nodes: [
      { node: 'n1', ...counters(5) },
      { node: 'n2', ...counters(5) },
    ],
  });
});
