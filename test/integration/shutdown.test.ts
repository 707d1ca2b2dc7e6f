// A clean shutdown as an operator triggers it (SIGTERM to `conclave start`):
// every occupant hears it was removed (unavailable, status 332) before its
// stream ends with system-shutdown, and every message sent before the signal
// is either delivered or answered with an error, never lost silently.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Element } from '../../src/xml/element.js';
import { MucTestClient } from '../helpers/muc-client.js';
import { spawnServer } from '../helpers/server.js';

let dir: string;
before(async () => (dir = await mkdtemp(join(tmpdir(), 'conclave-shutdown-'))));
after(() => rm(dir, { recursive: true, force: true }));

const ROOMS = ['one@conference.localhost', 'two@conference.localhost'];
const NICKS = ['alice', 'bob', 'carol'];
const MESSAGES = 50;

function mucStatuses(presence: Element): string[] {
  return (presence.getChild('x')?.children ?? []).flatMap((child) =>
    typeof child !== 'string' && child.name === 'status' ? [child.attrs.code ?? ''] : [],
  );
}

test('SIGTERM: every occupant receives 332 before system-shutdown, and no message sent before the signal is lost silently', async () => {
  const config = join(dir, 'shutdown.yaml');
  await writeFile(
    config,
    `data_dir: ${JSON.stringify(join(dir, 'data'))}\nlog_level: warn\nauth:\n  backend: insecure\nclient:\n  port: 0\nmuc:\n  shards: 2\n`,
  );
  const server = await spawnServer(['--config', config]);
  const occupants: { client: MucTestClient; room: string; nick: string }[] = [];
  for (const room of ROOMS) {
    for (const nick of NICKS) {
      const client = await MucTestClient.login(server.port, `${nick}-${room.split('@')[0]}`);
      if (nick === NICKS[0]) await client.createRoom(room, nick);
      else await client.join(room, nick);
      occupants.push({ client, room, nick });
    }
  }
  // Each room's first occupant sends a burst and the signal follows at once, with none of it answered yet.
  const senders = occupants.filter(({ nick }) => nick === NICKS[0]);
  for (const { client, room } of senders) {
    for (let i = 0; i < MESSAGES; i++) {
      client.client.send(`<message type='groupchat' to='${room}' id='m${i}'><body>${i}</body></message>`);
    }
  }
  assert.equal(await server.stop('SIGTERM'), 0, server.output());

  for (const { client, room, nick } of occupants) {
    await client.client.closed;
    const received = client.client.queue;
    const self = `${room}/${nick}`;
    const removed = received.findIndex((s) => s.name === 'presence' && s.attrs.from === self && s.attrs.type === 'unavailable');
    assert.notEqual(removed, -1, `${self} was not told it was removed`);
    assert.deepEqual(mucStatuses(received[removed]).sort(), ['110', '332']);
    const streamError = received.findIndex((s) => s.name === 'stream:error');
    assert.ok(streamError > removed, `${self}: no system-shutdown after the 332`);
    assert.ok(received[streamError].getChild('system-shutdown') !== undefined, received[streamError].toString());
  }
  for (const { client, room } of senders) {
    const answered = new Set(
      client.client.queue.flatMap((s) =>
        s.name === 'message' && (s.attrs.type === 'error' || s.attrs.from === `${room}/${NICKS[0]}`) ? [s.attrs.id] : [],
      ),
    );
    for (let i = 0; i < MESSAGES; i++) assert.ok(answered.has(`m${i}`), `${room}: m${i} was neither delivered nor bounced`);
  }
});
