// The command line as a user meets it: `conclave start` refusing bad
// configurations with a message that names the key, the value and the file;
// the account commands against a scratch data folder; a started server
// logging the accounts in and shutting down on SIGTERM; one server per data
// folder.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { conclave, RawClient, spawnServer } from '../helpers/server.js';

let dir: string;
before(async () => (dir = await mkdtemp(join(tmpdir(), 'conclave-cli-'))));
after(() => rm(dir, { recursive: true, force: true }));

async function configFile(name: string, yaml: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, yaml);
  return file;
}

describe('conclave start refuses bad configurations', () => {
  test('a value of the wrong type names the key, the value and the file', async () => {
    const file = await configFile('port.yaml', 'client:\n  port: "x"\n');
    const { code, stderr } = await conclave(['start', '--config', file]);
    assert.equal(code, 2);
    assert.match(stderr, /client\.port/);
    assert.match(stderr, /"x"/);
    assert.ok(stderr.includes(file), stderr);
  });

  test('an accept backlog below 1 names the key and the file', async () => {
    const file = await configFile('backlog.yaml', 'client:\n  backlog: 0\n');
    const { code, stderr } = await conclave(['start', '--config', file]);
    assert.equal(code, 2);
    assert.match(stderr, /client\.backlog/);
    assert.ok(stderr.includes(file), stderr);
  });

  test('an unknown key is named with the file', async () => {
    const file = await configFile('unknown.yaml', 'client:\n  prot: 5222\n');
    const { code, stderr } = await conclave(['start', '--config', file]);
    assert.equal(code, 2);
    assert.match(stderr, /prot/);
    assert.ok(stderr.includes(file), stderr);
  });

  test('an unknown profile and a missing file are errors too', async () => {
    assert.equal((await conclave(['start', '--profile', 'no-such-profile'])).code, 2);
    const missing = await conclave(['start', '--config', join(dir, 'missing.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /missing\.yaml/);
  });

  test('the insecure back end refuses a non-loopback address', async () => {
    const file = await configFile(
      'insecure.yaml',
      `data_dir: ${JSON.stringify(join(dir, 'insecure-data'))}\nauth:\n  backend: insecure\nclient:\n  host: 0.0.0.0\n  port: 0\n`,
    );
    const { code, stderr } = await conclave(['start', '--config', file]);
    assert.equal(code, 2);
    assert.match(stderr, /insecure/);
    assert.match(stderr, /0\.0\.0\.0/);
  });
});

describe('account commands', () => {
  let file: string;
  before(async () => {
    const yaml = `data_dir: ${JSON.stringify(join(dir, 'accounts-data'))}\nlog_level: warn\nclient:\n  port: 0\nmuc:\n  shards: 1\n`;
    file = await configFile('accounts.yaml', yaml);
  });

  async function scramLogin(port: number, username: string, password: string): Promise<string> {
    const client = await RawClient.connect(port);
    await client.openStream();
    const outcome = await client.authenticateScram(username, password, 'sha256');
    await client.close();
    return outcome.name;
  }

  test('adduser, passwd and deluser change who can log in', async () => {
    let result = await conclave(['adduser', 'Romeo@localhost', 'first', '--config', file]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /romeo@localhost/);
    result = await conclave(['adduser', 'romeo@localhost', 'again', '--config', file]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /already exists/);
    // Without a password argument and without a terminal, the password is one line of stdin.
    result = await conclave(['adduser', 'juliet@localhost', '--config', file], 'from stdin\n');
    assert.equal(result.code, 0, result.stderr);

    const server = await spawnServer(['--config', file]);
    try {
      assert.equal(await scramLogin(server.port, 'romeo', 'first'), 'success');
      assert.equal(await scramLogin(server.port, 'juliet', 'from stdin'), 'success');

      result = await conclave(['passwd', 'romeo@localhost', '--config', file], 'second\n');
      assert.equal(result.code, 0, result.stderr);
      assert.equal(await scramLogin(server.port, 'romeo', 'first'), 'failure');
      assert.equal(await scramLogin(server.port, 'romeo', 'second'), 'success');

      result = await conclave(['deluser', 'romeo@localhost', '--config', file]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(await scramLogin(server.port, 'romeo', 'second'), 'failure');
      result = await conclave(['deluser', 'romeo@localhost', '--config', file]);
      assert.equal(result.code, 1);
      result = await conclave(['passwd', 'nobody@localhost', 'x', '--config', file]);
      assert.equal(result.code, 1);
    } finally {
      assert.equal(await server.stop('SIGTERM'), 0);
    }
  });

  test('invalid JIDs, foreign domains and missing arguments are refused', async () => {
    assert.equal((await conclave(['adduser', 'not a jid@localhost', 'x', '--config', file])).code, 2);
    assert.equal((await conclave(['adduser', 'someone@example.org', 'x', '--config', file])).code, 2);
    assert.equal((await conclave(['adduser', 'someone@localhost/res', 'x', '--config', file])).code, 2);
    assert.equal((await conclave(['deluser', '--config', file])).code, 2);
    assert.equal((await conclave(['adduser', 'empty@localhost', '--config', file], '\n')).code, 2);
  });
});

describe('a CLI that helps', () => {
  test('--help works for every subcommand, with exit code 0', async () => {
    for (const command of ['start', 'adduser', 'deluser', 'passwd', 'scansion', 'bench']) {
      const { code, stdout } = await conclave([command, '--help']);
      assert.equal(code, 0, command);
      assert.match(stdout, new RegExp(`usage: conclave ${command}`), command);
    }
    for (const bench of ['fuzz', 'soak', 'compare', 'report', 'fanout']) {
      const { code, stdout } = await conclave(['bench', bench, '--help']);
      assert.equal(code, 0, bench);
      assert.match(stdout, new RegExp(`conclave bench ${bench === 'fanout' ? 'SCENARIO' : bench}`), bench);
    }
    assert.equal((await conclave(['--help'])).code, 0);
    assert.equal((await conclave(['no-such-command'])).code, 2);
    const mistyped = await conclave(['bench', 'soak', '--minute', '1']);
    assert.equal(mistyped.code, 2, mistyped.stderr);
    assert.match(mistyped.stderr, /--minute/);
  });

  test('the banner lists every listener with its TLS state, the MUC domain, the data folder, the auth back end and how to add the first account', async () => {
    const data = join(dir, 'banner-data');
    const listeners = 'websocket:\n  enabled: true\n  port: 0\nhttp:\n  enabled: true\n  port: 0\n';
    const file = await configFile('banner.yaml', `data_dir: ${JSON.stringify(data)}\nlog_level: warn\nclient:\n  port: 0\n${listeners}`);
    const server = await spawnServer(['--config', file]);
    try {
      const output = server.output();
      assert.match(output, /listening on 127\.0\.0\.1:\d+, no TLS/);
      assert.match(output, /websocket +listening on 127\.0\.0\.1:\d+\/xmpp-websocket, ws:\/\/ \(no TLS\)/);
      assert.match(output, /http +listening on 127\.0\.0\.1:\d+: \/metrics/);
      assert.match(output, /conference\.localhost/);
      assert.ok(output.includes(data), output);
      assert.match(output, /auth\s+internal/);
      assert.match(output, /No accounts yet: add the first with +npx conclave adduser USER@localhost --config/);
    } finally {
      assert.equal(await server.stop('SIGTERM'), 0);
    }
  });

  test('a busy port is a one-line error naming the key, with exit code 2', async () => {
    const first = await spawnServer(['--config', await configFile('first.yaml', `log_level: warn\ndata_dir: ${JSON.stringify(join(dir, 'first'))}\nclient:\n  port: 0\n`)]);
    try {
      const busy = await configFile('busy.yaml', `log_level: warn\ndata_dir: ${JSON.stringify(join(dir, 'busy'))}\nclient:\n  port: ${first.port}\n`);
      const { code, stderr } = await conclave(['start', '--config', busy]);
      assert.equal(code, 2);
      assert.match(stderr, /client\.port/);
      assert.match(stderr, /already in use.*\(client\.port is set in .*busy\.yaml\)$/m);
      assert.equal(stderr.trim().split('\n').length, 1, stderr);
    } finally {
      await first.stop('SIGTERM');
    }
  });

  // /proc refuses mkdir with ENOENT under a parent that exists, where Node's recursive mkdir once spun forever.
  for (const [name, dataDir] of [['under a file', 'a-file/data'], ['that is a file', 'a-file'], ['under /proc', '/proc/nope']]) {
    // The timeout only ends a hang (the bug this guards against) instead of the whole run.
    test(`a data_dir ${name} is a one-line error naming the key and the file, with exit code 2`, { timeout: 120_000 }, async () => {
      await writeFile(join(dir, 'a-file'), '');
      const unusable = await configFile('unusable.yaml', `log_level: warn\ndata_dir: ${JSON.stringify(resolve(dir, dataDir))}\nclient:\n  port: 0\n`);
      for (const command of [['start'], ['adduser', 'someone@localhost', 'pw']]) {
        const { code, stderr } = await conclave([...command, '--config', unusable]);
        assert.equal(code, 2, stderr);
        assert.match(stderr, /Cannot use the data directory .*\(data_dir is set in .*unusable\.yaml\)$/m);
        assert.equal(stderr.trim().split('\n').length, 1, stderr);
      }
    });
  }

  test('an unreadable certificate is a one-line error with exit code 2', async () => {
    const file = await configFile('tls.yaml', `log_level: warn\ndata_dir: ${JSON.stringify(join(dir, 'tls'))}\nclient:\n  port: 0\n  tls_cert: /nonexistent/cert.pem\n  tls_key: /nonexistent/key.pem\n`);
    const { code, stderr } = await conclave(['start', '--config', file]);
    assert.equal(code, 2);
    assert.match(stderr, /Cannot read the TLS file \/nonexistent\/cert\.pem: .*\(client\.tls_cert is set in .*tls\.yaml\)$/m);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
  });

  test('a certificate and key that are not PEM are a one-line error with exit code 2', async () => {
    await writeFile(join(dir, 'junk.pem'), 'not a certificate\n');
    const junk = JSON.stringify(join(dir, 'junk.pem'));
    const file = await configFile('junk-tls.yaml', `log_level: warn\ndata_dir: ${JSON.stringify(join(dir, 'junk-tls'))}\nclient:\n  port: 0\n  tls_cert: ${junk}\n  tls_key: ${junk}\n`);
    const { code, stderr } = await conclave(['start', '--config', file]);
    assert.equal(code, 2);
    assert.match(stderr, /Cannot use the TLS certificate .*junk\.pem with the key .*junk\.pem: .*\(client\.tls_cert is set in .*junk-tls\.yaml\)$/m);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
  });

  test('SIGHUP reloads the live keys and names those that need a restart', async () => {
    const file = join(dir, 'hup.yaml');
    const yaml = `data_dir: ${JSON.stringify(join(dir, 'hup'))}\nlog_level: warn\nclient:\n  port: 0\n`;
    await writeFile(file, yaml);
    const server = await spawnServer(['--config', file]);
    try {
      await writeFile(file, yaml + 'muc:\n  domain: rooms.localhost\nlimits:\n  max_depth: 50\n');
      server.process.kill('SIGHUP');
      // Either outcome is a line of output: wait for one, then say which.
      const output = await server.waitForOutput(/SIGHUP: (changed but only applied by a restart|configuration not reloaded): .*\n/);
      assert.match(output, /SIGHUP: reloaded the log level/);
      assert.match(output, /changed but only applied by a restart: muc\.domain\n/);
      assert.doesNotMatch(server.output(), /restart: .*limits/);

      // A certificate that cannot be read keeps the running configuration, and the error names the key and the file.
      await writeFile(file, yaml + `  tls_cert: ${JSON.stringify(join(dir, 'no-cert.pem'))}\n  tls_key: ${JSON.stringify(join(dir, 'no-key.pem'))}\n`);
      server.process.kill('SIGHUP');
      const refused = await server.waitForOutput(/configuration not reloaded: .*\n/);
      assert.match(refused, /configuration not reloaded: Cannot read the TLS file .*no-cert\.pem.*\(client\.tls_cert is set in .*hup\.yaml\)\n/);
    } finally {
      assert.equal(await server.stop('SIGTERM'), 0);
    }
  });
});

describe('one server per data folder', () => {
  test('a second server on the same data_dir is refused, naming the holder and the file that set data_dir; the account commands run beside it; the lock goes with the server, and a killed server\'s is taken over', async () => {
    const data = join(dir, 'locked-data');
    const lock = join(data, 'conclave.lock');
    const file = await configFile('locked.yaml', `log_level: warn\ndata_dir: ${JSON.stringify(data)}\nclient:\n  port: 0\nmuc:\n  shards: 1\n`);
    const first = await spawnServer(['--config', file]);
    try {
      const second = await conclave(['start', '--config', file]);
      assert.equal(second.code, 2, second.stderr);
      assert.match(second.stderr, new RegExp(`another Conclave server uses it \\(PID ${first.process.pid}`));
      assert.ok(second.stderr.includes(lock), second.stderr);
      assert.ok(second.stderr.includes(`data_dir is set in ${file}`), second.stderr);
      // LMDB takes writers from several processes: the account commands are meant to run beside the server.
      assert.equal((await conclave(['adduser', 'beside@localhost', 'pw', '--config', file])).code, 0);
    } finally {
      assert.equal(await first.stop('SIGTERM'), 0);
    }
    assert.equal(existsSync(lock), false, 'a server that stops removes its lock');

    const killed = await spawnServer(['--config', file]);
    await killed.stop('SIGKILL');
    assert.equal(existsSync(lock), true, 'SIGKILL leaves the lock behind');
    const next = await spawnServer(['--config', file]);
    assert.equal(await next.stop('SIGTERM'), 0);
  });
});
