import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SEEDS } from '../helpers/seeds.js';
import { loadScript, parseScript, ScriptParseError, substituteVariables } from '../../src/scansion/script.js';


const HEADER = `# A title
[Client] Romeo
\tjid: romeo@example.com
\tpassword: secret

[Client] Juliet Capulet
\tjid: juliet@example.com
\tpassword: pw
\tresource: balcony
\tconnect_host: 127.0.0.1
\tconnect_port: 15222

-----
`;

function parse(actions: string) {
  return parseScript(HEADER + actions, 'test.scs');
}

function parseError(text: string): ScriptParseError {
  try {
    parseScript(text, 'broken.scs');
  } catch (err) {
    assert.ok(err instanceof ScriptParseError, String(err));
    return err;
  }
  assert.fail('expected a parse error');
}

describe('scansion script parser', () => {
  it('reads client blocks with all properties', () => {
    const script = parse('');
    assert.deepEqual([...script.clients.keys()], ['Romeo', 'Juliet Capulet']);
    assert.deepEqual(script.clients.get('Romeo'), {
      name: 'Romeo',
      jid: 'romeo@example.com',
      password: 'secret',
      line: 2,
    });
    const juliet = script.clients.get('Juliet Capulet')!;
    assert.equal(juliet.resource, 'balcony');
    assert.equal(juliet.connectHost, '127.0.0.1');
    assert.equal(juliet.connectPort, 15222);
  });

  it('reads every kind of action with its line number', () => {
    const script = parse(`
Romeo connects

Romeo sends:
\t<presence to='room@muc.example.com/Romeo'>
\t\t<x xmlns='http://jabber.org/protocol/muc'/>

\t</presence>

Romeo receives:
\t<presence from='room@muc.example.com/Romeo'/>
Romeo receives: nothing
Romeo disconnects
`);
    const lineOfDashes = 13;
    assert.deepEqual(
      script.actions.map((action) => [action.kind, action.client, action.line - lineOfDashes]),
      [
        ['connect', 'Romeo', 2],
        ['send', 'Romeo', 4],
        ['receive', 'Romeo', 10],
        ['receive-nothing', 'Romeo', 12],
        ['disconnect', 'Romeo', 13],
      ],
    );
    const send = script.actions[1];
    assert.ok(send.kind === 'send');
    assert.match(send.stanza, /^<presence to='room@muc.example.com\/Romeo'>\n\t\t<x xmlns=.*\/>\n\n\t<\/presence>$/);
  });

  it('accepts #, // and -- comments, missing colons, inline stanzas and a double disconnect', () => {
    const script = parse(`# a comment
// another comment
-- and another
Romeo connects
Romeo sends
\t<presence/>
Juliet Capulet receives <message/>
Romeo receives nothing
Romeo disconnects
Romeo disconnects
`);
    assert.deepEqual(
      script.actions.map((action) => action.kind),
      ['connect', 'send', 'receive', 'receive-nothing', 'disconnect', 'disconnect'],
    );
    const receive = script.actions[2];
    assert.ok(receive.kind === 'receive');
    assert.equal(receive.client, 'Juliet Capulet');
    assert.equal(receive.stanza, '<message/>');
  });

  it('keeps scansion: attributes and variables in the stanza text', () => {
    const script = parse(`Romeo receives:
\t<iq from="\${Juliet Capulet's full JID}"><query xmlns='q' scansion:strict='true'/></iq>
`);
    const receive = script.actions[0];
    assert.ok(receive.kind === 'receive');
    assert.match(receive.stanza, /scansion:strict='true'/);
    assert.match(receive.stanza, /\$\{Juliet Capulet's full JID\}/);
  });

  it('takes a full JID as the JID to connect as, with its resource', () => {
    const script = parseScript('[Client] Romeo\n\tjid: romeo@localhost/phone\n\tpassword: pw\n-----\n', 'full.scs');
    const romeo = script.clients.get('Romeo')!;
    assert.equal(romeo.jid, 'romeo@localhost');
    assert.equal(romeo.resource, 'phone');
  });

  it("reads tags from the header's comment lines", () => {
    const script = parseScript(
      `# MUC: a title\n# tags: muc, slow\n## Tags: admin\n${HEADER.replace('# A title\n', '')}`,
      'tags.scs',
    );
    assert.deepEqual(script.tags, ['muc', 'slow', 'admin']);
    assert.deepEqual(parse('# tags: not-in-the-header\n').tags, []);
  });

  it('accepts a captured value after the step that captures it', () => {
    const script = parse(`Romeo receives:
\t<iq id='{scansion:capture:query}'/>
Romeo sends:
\t<iq id='\${query}' to="\${Romeo's JID}"/>
`);
    assert.equal(script.actions.length, 2);
  });

  it('reports errors with file and line', () => {
    const cases: [string, number, RegExp][] = [
      [HEADER + 'Romeo connects\nTybalt connects\n', 15, /unknown client 'Tybalt'/],
      [HEADER + 'Romeo dances\n', 14, /expected an action/],
      [HEADER + 'Romeo sends:\n\n', 14, /has no stanza/],
      [HEADER + 'Romeo sends:\n\t<presence>\n', 14, /invalid XML/],
      [HEADER + 'Romeo sends:\n\t<presence to="${Tybalt\'s JID}"/>\n', 14, /unknown client 'Tybalt'/],
      [HEADER + 'Romeo sends:\n\t<presence to="${Romeo\'s nickname}"/>\n', 14, /unknown variable/],
      [HEADER + '\t<presence/>\n', 14, /indented text outside/],
      ['[Client] Romeo\n\tjid: romeo@example.com\n\tcolour: red\n-----\n', 3, /unknown client property 'colour'/],
      ['[Client] Romeo\n\tjid: romeo\n-----\n', 2, /'romeo' is not a JID/],
      ['[Client] Romeo\n\tjid: r@example.com/a\n\tresource: b\n-----\n', 3, /two resources, 'a' and 'b'/],
      [HEADER + 'Romeo sends:\n\t<iq id="{scansion:capture:id}"/>\n', 14, /captures belong in received stanzas/],
      [HEADER + 'Romeo sends:\n\t<iq id="${id}"/>\n', 14, /'\$\{id\}' is not captured by an earlier step/],
      ['[Client] Romeo\n\tjid: r@example.com\n\tconnect_port: http\n-----\n', 3, /not a port number/],
      ['[Client] Romeo\n\tpassword: x\n-----\n', 1, /has no jid/],
      ['[Client] Romeo\n\tjid: r@example.com\nRomeo connects\n', 3, /expected '\[Client\] Name'/],
      ['[Client] Romeo\n\tjid: r@example.com\n', 3, /missing the line of dashes/],
    ];
    for (const [text, line, message] of cases) {
      const error = parseError(text);
      assert.equal(error.line, line, `${error.message}`);
      assert.equal(error.file, 'broken.scs');
      assert.match(error.message, message);
      assert.match(error.message, new RegExp(`^broken\\.scs:${line}: `));
    }
  });

  it('substitutes full and bare JIDs, escaped for XML', () => {
    const jids = { full: "o'brien@example.com/a&b", bare: "o'brien@example.com" };
    const text = substituteVariables(`<x a="\${Romeo's full JID}">\${Romeo's JID}</x>`, (variable) => {
      assert.ok(variable.kind !== 'capture' && variable.client === 'Romeo');
      return jids[variable.kind];
    });
    assert.equal(text, `<x a="o&apos;brien@example.com/a&amp;b">o&apos;brien@example.com</x>`);
  });

  it('parses all the seed scripts', async () => {
    const names = (await readdir(SEEDS)).filter((name) => name.endsWith('.scs'));
    assert.equal(names.length, 5);
    for (const name of names) {
      const script = await loadScript(join(SEEDS, name));
      assert.ok(script.clients.size >= 2, name);
      assert.ok(script.actions.length > 10, name);
      assert.equal(script.actions[0].kind, 'connect', name);
    }
  });
});
