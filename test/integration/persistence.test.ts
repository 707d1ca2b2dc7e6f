// Persistent rooms survive a crash: the server runs as a separate process on
// a scratch data folder; a room is made persistent and its affiliations,
// reserved nicknames and registrations changed; the process is killed with
// SIGKILL the moment the last acknowledgement arrives; a new process on the
// same folder must know every acknowledged change, and the room's archive.
// Once on LMDB, and once as a cluster node on JetStream (a real nats-server),
// where the new process gets a data folder of its own: what it knows came
// from NATS.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as natsConnect } from 'nats';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Element } from '../../src/xml/element.js';
import { startNats, type TestNats } from '../helpers/nats.js';
import { rawClient, spawnServer, type RawClient } from '../helpers/server.js';

const ROOM = 'vault@conference.localhost';
const ADMIN = 'http://jabber.org/protocol/muc#admin';
const OWNER = 'http://jabber.org/protocol/muc#owner';

let counter = 0;

/** Sends an iq and resolves with its reply, failing on an error reply. */
async function iq(client: RawClient, type: 'get' | 'set', payload: string): Promise<Element> {
  const id = `q${++counter}`;
  client.send(`<iq type='${type}' id='${id}' to='${ROOM}'>${payload}</iq>`);
  const answer = await client.reply(id);
  assert.equal(answer.attrs.type, 'result', answer.toString());
  return answer;
}

function configForm(fields: Record<string, string>): string {
  const body = Object.entries({ FORM_TYPE: 'http://jabber.org/protocol/muc#roomconfig', ...fields })
    .map(([name, value]) => `<field var='${name}'><value>${value}</value></field>`)
    .join('');
  return `<query xmlns='${OWNER}'><x xmlns='jabber:x:data' type='submit'>${body}</x></query>`;
}

function listed(answer: Element): Record<string, string>[] {
  return answer.getChild('query')!.getChildren('item').map((item) => item.attrs);
}

/** Waits until the room's archive stream holds a message: its appends are not acknowledged to anyone. */
async function archivedInStream(url: string): Promise<void> {
  const connection = await natsConnect({ servers: url });
  const jsm = await connection.jetstreamManager();
  while ((await jsm.streams.info('conclave_archive')).state.messages < 2) await sleep(20);
  await connection.close();
}

for (const cluster of [false, true]) {
  describe(`persistence across a crash${cluster ? ', a cluster node on JetStream' : ''}`, { timeout: 60_000 }, () => {
    let dataDir: string;
    let nats: TestNats | undefined;
    /** The config file of the first process and of the one after the crash. */
    let configFile: string;
    let restartFile: string;

    before(async () => {
      dataDir = await mkdtemp(join(tmpdir(), 'conclave-persist-'));
      nats = cluster ? await startNats() : undefined;
      const write = async (name: string, data: string) => {
        const file = join(dataDir, name + '.yaml');
        const clusterSection = nats === undefined ? '' : `cluster:\n  node: ${name}\n  nats:\n    servers: [${nats.url}]\n`;
        await writeFile(file, `data_dir: ${JSON.stringify(join(dataDir, data))}\nlog_level: silent\nclient:\n  port: 0\nmuc:\n  shards: 2\n${clusterSection}`);
        return file;
      };
      configFile = await write('first', 'data');
      restartFile = await write('second', cluster ? 'data2' : 'data');
    });

    after(async () => {
      await nats?.stop();
      await rm(dataDir, { recursive: true, force: true });
    });

    it('finds every acknowledged change, and the archive, after SIGKILL and a restart', async () => {
      const first = await spawnServer(['--profile', 'scansion', '--config', configFile]);
      const romeo = await rawClient(first.port, 'romeo');
      const benvolio = await rawClient(first.port, 'benvolio');
      romeo.send(`<presence to='${ROOM}/Romeo'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
      await romeo.next((s) => s.name === 'message' && s.getChild('subject') !== undefined);

      await iq(romeo, 'set', configForm({ 'muc#roomconfig_persistentroom': '1', 'muc#roomconfig_roomname': 'The vault' }));
      romeo.send(`<message to='${ROOM}' type='groupchat'><body>Before the crash</body></message>`);
      await romeo.next((s) => s.name === 'message' && s.getChildText('body') === 'Before the crash');
      await iq(romeo, 'set', `<query xmlns='${ADMIN}'><item affiliation='member' jid='juliet@localhost' nick='Juliet'/></query>`);
      await iq(romeo, 'set', `<query xmlns='${ADMIN}'><item affiliation='member' jid='benvolio@localhost'/></query>`);
      await iq(romeo, 'set', `<query xmlns='${ADMIN}'><item affiliation='admin' jid='mercutio@localhost'/></query>`);
      await iq(romeo, 'set', `<query xmlns='${ADMIN}'><item affiliation='outcast' jid='tybalt@localhost'><reason>Feud</reason></item></query>`);
      await iq(
        benvolio,
        'set',
        `<query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#register</value></field><field var='muc#register_roomnick'><value>Ben</value></field></x></query>`,
      );
      await iq(romeo, 'set', configForm({ 'muc#roomconfig_membersonly': '1' }));
      // Its owner marker and the message.
      if (nats !== undefined) await archivedInStream(nats.url);
      await first.stop('SIGKILL');

      const second = await spawnServer(['--profile', 'scansion', '--config', restartFile]);
      try {
        const owner = await rawClient(second.port, 'romeo');
        const members = listed(await iq(owner, 'get', `<query xmlns='${ADMIN}'><item affiliation='member'/></query>`));
        assert.deepEqual(
          members.sort((a, b) => a.jid.localeCompare(b.jid)),
          [
            { affiliation: 'member', jid: 'benvolio@localhost', nick: 'Ben' },
            { affiliation: 'member', jid: 'juliet@localhost', nick: 'Juliet' },
          ],
        );
        assert.deepEqual(listed(await iq(owner, 'get', `<query xmlns='${ADMIN}'><item affiliation='admin'/></query>`)), [
          { affiliation: 'admin', jid: 'mercutio@localhost' },
        ]);
        assert.deepEqual(listed(await iq(owner, 'get', `<query xmlns='${ADMIN}'><item affiliation='outcast'/></query>`)), [
          { affiliation: 'outcast', jid: 'tybalt@localhost' },
        ]);
        assert.deepEqual(listed(await iq(owner, 'get', `<query xmlns='${ADMIN}'><item affiliation='owner'/></query>`)), [
          { affiliation: 'owner', jid: 'romeo@localhost' },
        ]);

        const form = (await iq(owner, 'get', `<query xmlns='${OWNER}'/>`)).getChild('query')!.getChild('x')!;
        const value = (name: string) => form.getChildren('field').find((f) => f.attrs.var === name)?.getChildText('value');
        assert.equal(value('muc#roomconfig_persistentroom'), '1');
        assert.equal(value('muc#roomconfig_membersonly'), '1');
        assert.equal(value('muc#roomconfig_roomname'), 'The vault');

        owner.send(`<iq type='set' id='mam' to='${ROOM}'><query xmlns='urn:xmpp:mam:2' queryid='m'/></iq>`);
        const archived = await owner.next((s) => s.name === 'message' && s.getChild('result', 'urn:xmpp:mam:2') !== undefined);
        const forwarded = archived.getChild('result')!.getChild('forwarded')!.getChild('message')!;
        assert.equal(forwarded.getChildText('body'), 'Before the crash');

        // The room is configured, not locked: a member walks straight in, a stranger is kept out.
        const juliet = await rawClient(second.port, 'juliet');
        juliet.send(`<presence to='${ROOM}/Juliet'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
        const self = await juliet.next((s) => s.name === 'presence');
        assert.equal(self.attrs.type, undefined, self.toString());
        const stranger = await rawClient(second.port, 'paris');
        stranger.send(`<presence to='${ROOM}/Paris'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
        const refused = await stranger.next((s) => s.name === 'presence');
        assert.equal(refused.getChild('error')?.elements()[0]?.name, 'registration-required');
      } finally {
        await second.stop();
      }
    });
  });
}
