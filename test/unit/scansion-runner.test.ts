// The runner against a scripted XMPP peer: a real TCP server that negotiates
// just enough XMPP (features, SASL PLAIN, bind, session) and then writes
// whatever the script tells it to. A client sends
//   <iq><write xmlns='urn:test:peer' to='FULL JID'>stanzas</write></iq>
// and the peer writes those stanzas to that session (default: the sender) in
// one socket write, so the test decides exactly which stanzas share a read;
//   <iq><close xmlns='urn:test:peer'/></iq>
// makes the peer close the sender's stream. Stanzas that reach the peer in the
// same turn of the event loop are handled last first, as a server with several
// sockets ready at once may: only a runner that lets the server read between
// two sends keeps the script's order.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ScansionClient } from '../../src/scansion/client.js';
import { runScript, runScripts, type RunOptions, type ScriptResult } from '../../src/scansion/runner.js';
import { junitReport } from '../../src/scansion/junit.js';
import type { Element } from '../../src/xml/element.js';
import { parseElement, STREAMS_NS, XmppStreamParser } from '../../src/xml/stream-parser.js';

const SASL_NS = 'urn:ietf:params:xml:ns:xmpp-sasl';
const BIND_NS = 'urn:ietf:params:xml:ns:xmpp-bind';
const SESSION_NS = 'urn:ietf:params:xml:ns:xmpp-session';
const PEER_NS = 'urn:test:peer';

class ScriptedPeer {
  /** Full JID → socket of each bound session. */
  private readonly sessions = new Map<string, net.Socket>();
  private readonly server = net.createServer((socket) => this.accept(socket));
  /** What happened, for assertions: 'bind JID', 'session JID', 'closed JID', 'handled ID'. */
  readonly events: string[] = [];
  port = 0;
  /** Stanzas that arrived in this turn of the event loop, with their sockets. */
  private arrived: [Element, net.Socket][] = [];

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sessions.values()) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(socket: net.Socket): void {
    let user: string | undefined;
    let domain = '';
    let fullJid: string | undefined;
    let generated = 0;
    const parser = new XmppStreamParser({
      streamStart: (header) => {
        domain = header.attrs.to ?? 'localhost';
        const features =
          user === undefined
            ? `<mechanisms xmlns='${SASL_NS}'><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>`
            : `<bind xmlns='${BIND_NS}'/><session xmlns='${SESSION_NS}'/>`;
        socket.write(
          `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='${STREAMS_NS}' ` +
            `from='${domain}' id='s${this.port}' version='1.0'><stream:features>${features}</stream:features>`,
        );
      },
      stanza: (stanza) => {
        if (stanza.name === 'auth') {
          const [, authcid, password] = Buffer.from(stanza.text(), 'base64').toString().split('\0');
          if (password !== 'password') {
            socket.write(`<failure xmlns='${SASL_NS}'><not-authorized/></failure>`);
            return;
          }
          user = authcid;
          parser.restart();
          socket.write(`<success xmlns='${SASL_NS}'/>`);
          return;
        }
        const bind = stanza.getChild('bind', BIND_NS);
        if (bind) {
          fullJid = `${user}@${domain}/${bind.getChildText('resource') ?? `generated${++generated}`}`;
          this.sessions.set(fullJid, socket);
          this.events.push(`bind ${fullJid}`);
          socket.write(`<iq type='result' id='${stanza.attrs.id}'><bind xmlns='${BIND_NS}'><jid>${fullJid}</jid></bind></iq>`);
          return;
        }
        if (stanza.getChild('session', SESSION_NS)) {
          this.events.push(`session ${fullJid}`);
          socket.write(`<iq type='result' id='${stanza.attrs.id}'/>`);
          return;
        }
        if (this.arrived.push([stanza, socket]) === 1) setImmediate(() => this.handleArrived());
      },
      streamEnd: () => {
        this.events.push(`closed ${fullJid}`);
        socket.end('</stream:stream>');
      },
      error: () => socket.destroy(),
    });
    socket.on('data', (chunk) => parser.write(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      if (fullJid) this.sessions.delete(fullJid);
    });
  }

  private handleArrived(): void {
    for (const [stanza, socket] of this.arrived.splice(0).reverse()) {
      if (stanza.attrs.id !== undefined) this.events.push(`handled ${stanza.attrs.id}`);
      for (const write of stanza.getChildren('write', PEER_NS)) this.write(write, socket);
      if (stanza.getChild('close', PEER_NS)) socket.end('</stream:stream>');
    }
  }

  /** Writes the children of a <write/> in one socket write, or in two when it says split='N'. */
  private write(write: Element, sender: net.Socket): void {
    const target = write.attrs.to === undefined ? sender : this.sessions.get(write.attrs.to);
    assert.ok(target, `no session ${write.attrs.to}`);
    const xml = write.children.map((child) => (typeof child === 'string' ? '' : child.toString())).join('');
    const split = write.attrs.split === undefined ? undefined : Number(write.attrs.split);
    if (split === undefined) {
      target.write(xml);
      return;
    }
    target.write(xml.slice(0, split));
    setTimeout(() => target.write(xml.slice(split)), 20);
  }
}

const HEADER = `# Runner test
[Client] Romeo
\tjid: romeo@localhost
\tpassword: password
\tresource: balcony

[Client] Juliet
\tjid: juliet@localhost
\tpassword: password

-----
`;
const HEADER_LINES = 11;

/** A <write/> request: the peer writes `stanzas` to `to` (default: the sender) in one write. */
function write(stanzas: string, attrs = ''): string {
  return `\t<iq type='set' id='w'><write xmlns='${PEER_NS}' ${attrs}>${stanzas}</write></iq>`;
}

describe('scansion runner', () => {
  const peer = new ScriptedPeer();
  let dir: string;
  let options: RunOptions;
  let scripts = 0;

  before(async () => {
    await peer.start();
    dir = await mkdtemp(join(tmpdir(), 'conclave-scansion-'));
    options = { host: '127.0.0.1', port: peer.port, timeout: 2000, nothingWait: 300 };
  });

  after(async () => {
    await peer.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function saveScript(actions: string, header = HEADER): Promise<string> {
    const file = join(dir, `script${++scripts}.scs`);
    await writeFile(file, header + actions);
    return file;
  }

  async function run(actions: string, extra: RunOptions = {}): Promise<ScriptResult> {
    return runScript(await saveScript(actions), { ...options, ...extra });
  }

  function assertPassed(result: ScriptResult): void {
    assert.equal(result.passed, true, JSON.stringify(result.failure, null, 2));
  }

  /** Asserts a failure at the given line (counted from the first line after the dashes). */
  function assertFailed(result: ScriptResult, actionLine: number, message: RegExp): NonNullable<ScriptResult['failure']> {
    assert.equal(result.passed, false, 'expected the script to fail');
    const failure = result.failure!;
    assert.equal(failure.line, HEADER_LINES + actionLine, JSON.stringify(failure, null, 2));
    assert.match(failure.message, message);
    return failure;
  }

  it('connects, binds the script resource or a generated one, does the session, sends and receives', async () => {
    const result = await run(`Romeo connects
Juliet connects
Romeo sends:
${write(`<message from="\${Romeo's full JID}" id='m1'><body>Hi</body></message>`, `to="\${Juliet's full JID}"`)}
Juliet receives:
\t<message from="\${Romeo's full JID}" id='m1'>
\t\t<body>Hi</body>
\t</message>
Juliet disconnects
Romeo disconnects
`);
    assertPassed(result);
    assert.ok(peer.events.includes('bind romeo@localhost/balcony'));
    assert.ok(peer.events.some((event) => /^bind juliet@localhost\/generated\d+$/.test(event)));
    assert.ok(peer.events.includes('session romeo@localhost/balcony'));
    assert.ok(peer.events.includes('closed romeo@localhost/balcony'));
  });

  it('feeds the rest of a read to the same client\'s following receive steps', async () => {
    assertPassed(
      await run(`Romeo connects
Romeo sends:
${write(`<message id='a'/><message id='b'/><message id='c'/>`)}
Romeo receives:
\t<message id='a'/>
Romeo receives:
\t<message id='b'/>
Romeo receives:
\t<message id='c'/>
`),
    );
  });

  it('drops the rest of a read as soon as the script does anything else', async () => {
    const actions = `Romeo connects
Romeo sends:
${write(`<message id='a'/><message id='b'/>`)}
Romeo receives:
\t<message id='a'/>
Romeo sends:
${write(`<message id='c'/>`)}
Romeo receives:
\t<message id='c'/>
`;
    assertPassed(await run(actions));
    // With keepUnread, the unread <message id='b'/> is still the next stanza.
    const failure = assertFailed(await run(actions, { keepUnread: true }), 8, /^\/message: attribute id is 'b'/);
    assert.equal(failure.action, 'Romeo receives');
    assert.equal(failure.expected, `<message id='c'/>`);
    assert.equal(failure.received, `<message id='b'/>`);
  });

  it("drops the rest of a read at another client's step", async () => {
    assertPassed(
      await run(`Romeo connects
Juliet connects
Romeo sends:
${write(`<message id='a'/><message id='b'/>`)}
Romeo receives:
\t<message id='a'/>
Juliet receives: nothing
Romeo receives: nothing
`),
    );
  });

  it('keeps every unread stanza queued with keepUnread', async () => {
    assertPassed(
      await run(
        `Romeo connects
Romeo sends:
${write(`<message id='a'/><message id='b'/>`)}
Romeo receives:
\t<message id='a'/>
Romeo sends:
${write(`<message id='c'/>`)}
Romeo receives:
\t<message id='b'/>
Romeo receives:
\t<message id='c'/>
`,
        { keepUnread: true },
      ),
    );
  });

  it('keeps stanzas that arrive in a later read queued while the script does other things', async () => {
    assertPassed(
      await run(`Romeo connects
Juliet connects
Juliet sends:
${write(`<message id='later'/>`, `to="\${Romeo's full JID}"`)}
Juliet sends:
${write(`<message id='pong'/>`)}
Juliet receives:
\t<message id='pong'/>
Romeo receives:
\t<message id='later'/>
`),
    );
  });

  it('assembles a stanza that spans several reads', async () => {
    assertPassed(
      await run(`Romeo connects
Romeo sends:
${write(`<message id='split'><body>Hello</body></message>`, `split='20'`)}
Romeo receives:
\t<message id='split'><body>Hello</body></message>
`),
    );
  });

  it('fails receives: nothing when a stanza is queued, arrives, or is left from the read', async () => {
    const queued = `Romeo connects
Juliet connects
Juliet sends:
${write(`<message id='x'/>`, `to="\${Romeo's full JID}"`)}
Juliet sends:
${write(`<message id='pong'/>`)}
Juliet receives:
\t<message id='pong'/>
Romeo receives: nothing
`;
    const failure = assertFailed(await run(queued, { nothingWait: 1000 }), 9, /expected nothing/);
    assert.equal(failure.action, 'Romeo receives: nothing');
    assert.equal(failure.received, `<message id='x'/>`);

    const leftover = `Romeo connects
Romeo sends:
${write(`<message id='a'/><message id='b'/>`)}
Romeo receives:
\t<message id='a'/>
Romeo receives: nothing
`;
    assertFailed(await run(leftover), 6, /expected nothing/);
  });

  it('fails a receive that times out', async () => {
    const failure = assertFailed(
      await run(`Romeo connects
Romeo receives:
\t<message/>
`, { timeout: 200 }),
      2,
      /received nothing within 200 ms/,
    );
    assert.equal(failure.expected, '<message/>');
    assert.equal(failure.received, undefined);
  });

  it('reports a mismatch with the path, expected and received stanzas', async () => {
    const failure = assertFailed(
      await run(`Romeo connects
Romeo sends:
${write(`<presence from='room@muc/Romeo'><x xmlns='urn:x'><item role='visitor'/></x></presence>`)}
Romeo receives:
\t<presence from='room@muc/Romeo'>
\t\t<x xmlns='urn:x'><item role='moderator'/></x>
\t</presence>
`),
      4,
      /^\/presence\/x\/item: attribute role is 'visitor', expected 'moderator'/,
    );
    assert.equal(failure.received, `<presence from='room@muc/Romeo'>\n  <x xmlns='urn:x'>\n    <item role='visitor'/>\n  </x>\n</presence>`);
  });

  it('treats a second disconnect as a no-op, and can reconnect', async () => {
    assertPassed(
      await run(`Romeo connects
Romeo disconnects
Romeo disconnects
Romeo connects
Romeo sends:
${write(`<message id='again'/>`)}
Romeo receives:
\t<message id='again'/>
`),
    );
  });

  it('fails a step for a client that is not connected', async () => {
    assertFailed(await run(`Romeo sends:\n\t<presence/>\n`), 1, /Romeo is not connected/);
  });

  it('fails on authentication failure, refused connection and stream errors', async () => {
    const wrongPassword = HEADER.replace('password: password', 'password: wrong');
    const auth = await runScript(await saveScript('Romeo connects\n', wrongPassword), options);
    assertFailed(auth, 1, /authentication as romeo@localhost failed: not-authorized/);

    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    // The client's connect_port overrides the runner's port.
    const refusedHeader = HEADER.replace('resource: balcony', `connect_port: ${closedPort}`);
    const refused = await runScript(await saveScript('Romeo connects\n', refusedHeader), options);
    assertFailed(refused, 1, new RegExp(`connection to 127.0.0.1:${closedPort} failed`));

    const streamError = await run(`Romeo connects
Romeo sends:
${write(`<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`)}
Romeo receives:
\t<message/>
`);
    assertFailed(streamError, 4, /stream error: conflict/);
  });

  it('reports parse errors as failures at their line', async () => {
    const result = await run('Romeo dances\n');
    assertFailed(result, 1, /expected an action/);
    assert.equal(result.failure!.action, 'parse');
  });

  it('runs files and directories in order and counts the results', async () => {
    const sub = join(dir, 'batch');
    await mkdir(sub);
    await writeFile(join(sub, 'b.scs'), HEADER + 'Romeo connects\n');
    await writeFile(join(sub, 'a.scs'), HEADER + 'Romeo receives: nothing\n');
    await writeFile(join(sub, 'notes.txt'), 'not a script');
    const summary = await runScripts([sub, join(dir, 'missing.scs')], options);
    assert.deepEqual(
      summary.results.map((result) => [result.file, result.passed]),
      [
        [join(sub, 'a.scs'), false],
        [join(sub, 'b.scs'), true],
        [join(dir, 'missing.scs'), false],
      ],
    );
    assert.equal(summary.passed, 1);
    assert.equal(summary.failed, 2);

    const report = parseElement(junitReport(summary.results).replace(/^<\?xml[^>]*\?>/, ''));
    const suite = report.getChild('testsuite')!;
    assert.equal(suite.attrs.tests, '3');
    assert.equal(suite.attrs.failures, '2');
    const cases = suite.getChildren('testcase');
    assert.deepEqual(cases.map((testcase) => testcase.attrs.name), ['a.scs', 'b.scs', 'missing.scs']);
    assert.match(cases[0].getChild('failure')!.attrs.message, /^line 12: Romeo receives: nothing: Romeo is not connected/);
    assert.equal(cases[1].getChild('failure'), undefined);
  });

  it('binds the resource of a full JID given as the jid', async () => {
    const header = HEADER.replace('jid: romeo@localhost\n\tpassword: password\n\tresource: balcony', 'jid: romeo@localhost/phone\n\tpassword: password');
    const file = await saveScript(
      `Romeo connects
Romeo sends:
${write(`<message to="\${Romeo's JID}" from="\${Romeo's full JID}" id='full'/>`)}
Romeo receives:
	<message to='romeo@localhost' from='romeo@localhost/phone' id='full'/>
`,
      header,
    );
    assertPassed(await runScript(file, options));
    assert.ok(peer.events.includes('bind romeo@localhost/phone'));
  });

  it("lets the server read each stanza before the next client's is written", async () => {
    // Without a yield between them, two clients' stanzas reach the peer in one turn and it swaps them.
    const unyielded = await Promise.all(
      ['romeo@localhost', 'juliet@localhost'].map(async (jid) => {
        const client = new ScansionClient({ jid, password: 'password', host: '127.0.0.1', port: peer.port, timeout: 2000 });
        await client.connect();
        return client;
      }),
    );
    await Promise.all(unyielded.map((client, i) => client.send(`<message id='unyielded-${i + 1}'/>`)));
    await unyielded[0].send(write(`<message id='pong'/>`).trim());
    assert.ok(await unyielded[0].waitForRead(2000));
    await Promise.all(unyielded.map((client) => client.disconnect()));
    assert.deepEqual(handled(/^unyielded-/), ['unyielded-2', 'unyielded-1']);

    const sends = ['Romeo', 'Juliet', 'Romeo']
      .map((client, i) => `${client} sends:\n\t<message id='ordered-${i + 1}'/>\n`)
      .join('');
    const script = `Romeo connects\nJuliet connects\n${sends}Juliet sends:\n${write(`<message id='done'/>`)}
Juliet receives:\n\t<message id='done'/>\n`;
    for (const sendDelay of [undefined, 1]) {
      assertPassed(await run(script, { sendDelay }));
      assert.deepEqual(handled(/^ordered-/).splice(-3), ['ordered-1', 'ordered-2', 'ordered-3']);
    }
  });

  function handled(id: RegExp): string[] {
    return peer.events.flatMap((event) => {
      const stanzaId = event.startsWith('handled ') ? event.slice(8) : '';
      return id.test(stanzaId) ? [stanzaId] : [];
    });
  }

  it('passes a disconnect step whose stream has just broken', async () => {
    const close = `\t<iq type='set' id='c'><close xmlns='${PEER_NS}'/></iq>`;
    assertPassed(await run(`Romeo connects\nRomeo sends:\n${close}\nRomeo disconnects\n`));
    const streamError = write(`<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`);
    assertPassed(await run(`Romeo connects\nRomeo sends:\n${streamError}\nRomeo disconnects\n`));
  });

  it("fails a broken stream only at its own client's next step", async () => {
    const actions = `Romeo connects
Juliet connects
Juliet sends:
\t<iq type='set' id='c'><close xmlns='${PEER_NS}'/></iq>
Romeo sends:
${write(`<message id='still'/>`)}
Romeo receives:
\t<message id='still'/>
Romeo receives: nothing
`;
    assertPassed(await run(actions));
    assertFailed(await run(`${actions}Juliet receives:\n\t<message/>\n`), 10, /the server closed the (stream|connection)/);
  });

  it('captures an attribute value and uses it, escaped, in later stanzas', async () => {
    const result = await run(`Romeo connects
Romeo sends:
${write(`<iq type='result' id="a&amp;b'c" from='room@muc'/>`)}
Romeo receives:
\t<iq type='result' id='{scansion:capture:query}' from='{scansion:capture:room}'/>
Romeo sends:
${write(`<message id="\${query}" to="\${room}"/>`)}
Romeo receives:
\t<message id="\${query}" to='room@muc'/>
`);
    assertPassed(result);
    const failure = assertFailed(
      await run(`Romeo connects
Romeo sends:
${write(`<iq id='one'/><iq id='two'/>`)}
Romeo receives:
\t<iq id='{scansion:capture:first}'/>
Romeo receives:
\t<iq id='\${first}'/>
`),
      6,
      /attribute id is 'two', expected 'one'/,
    );
    assert.equal(failure.expected, `<iq id='one'/>`);
  });

  it('runs or skips scripts by the tags in their header', async () => {
    const sub = join(dir, 'tagged');
    await mkdir(sub);
    await writeFile(join(sub, 'a.scs'), `# A\n# tags: muc, slow\n${HEADER}Romeo connects\n`);
    await writeFile(join(sub, 'b.scs'), `# B\n# tags: muc\n${HEADER}Romeo connects\n`);
    await writeFile(join(sub, 'c.scs'), `# C\n${HEADER}Romeo connects\n`);
    const ran = async (tags: RunOptions) => {
      const summary = await runScripts([sub], { ...options, ...tags });
      return summary.results.filter((result) => !result.skipped).map((result) => basename(result.file));
    };
    assert.deepEqual(await ran({}), ['a.scs', 'b.scs', 'c.scs']);
    assert.deepEqual(await ran({ onlyTags: ['slow', 'other'] }), ['a.scs']);
    assert.deepEqual(await ran({ skipTags: ['slow'] }), ['b.scs', 'c.scs']);
    assert.deepEqual(await ran({ onlyTags: ['muc'], skipTags: ['slow'] }), ['b.scs']);

    const summary = await runScripts([sub], { ...options, skipTags: ['muc'] });
    assert.deepEqual([summary.passed, summary.failed, summary.skipped], [1, 0, 2]);
    const suite = parseElement(junitReport(summary.results).replace(/^<\?xml[^>]*\?>/, '')).getChild('testsuite')!;
    assert.equal(suite.attrs.skipped, '2');
    assert.ok(suite.getChildren('testcase')[0].getChild('skipped'));
  });

  it('counts steps, and traces the XML each client sends and receives', async () => {
    const trace: string[] = [];
    const steps = [
      'Romeo connects',
      `Romeo sends:\n${write(`<message id='traced'/>`)}`,
      `Romeo receives:\n\t<message id='traced'/>`,
      `Romeo receives:\n\t<message id='never'/>`,
      'Romeo disconnects',
    ];
    const result = await run(
      steps.join('\n') + '\n',
      { timeout: 300, trace: (client, direction, xml) => trace.push(`${client} ${direction} ${xml}`) },
    );
    assert.deepEqual([result.steps, result.totalSteps], [4, 5]);
    assert.ok(trace.some((line) => line.startsWith(`Romeo sent <iq type='set' id='w'>`)), trace.join('\n'));
    assert.ok(trace.includes(`Romeo received <message id='traced'/>`), trace.join('\n'));
    assert.ok(trace.some((line) => line.startsWith('Romeo received <?xml')), 'negotiation is traced too');
    assert.ok(trace.some((line) => line.includes('>(credentials)</auth>')), 'the SASL credentials are not');
    assert.ok(!trace.some((line) => line.includes(Buffer.from('\0romeo\0password').toString('base64'))));
    assertPassed(await run('Romeo connects\nRomeo disconnects\n'));
  });

  it('spreads the clients over the given servers, a connect_port still winning', async () => {
    const second = new ScriptedPeer();
    await second.start();
    try {
      const spread = [
        { host: '127.0.0.1', port: peer.port },
        { host: '127.0.0.1', port: second.port },
      ];
      const header = `${HEADER.replace('-----\n', '')}[Client] Mercutio\n\tjid: mercutio@localhost\n\tpassword: password\n\tresource: spread\n\tconnect_port: ${second.port}\n\n-----\n`;
      const file = await saveScript('Romeo connects\nJuliet connects\nMercutio connects\n', header);
      assertPassed(await runScript(file, { timeout: 2000, spread }));
      assert.ok(peer.events.includes('bind romeo@localhost/balcony'));
      assert.ok(second.events.some((event) => /^bind juliet@localhost\//.test(event)));
      assert.ok(second.events.includes('bind mercutio@localhost/spread'));
    } finally {
      await second.stop();
    }
  });
});
