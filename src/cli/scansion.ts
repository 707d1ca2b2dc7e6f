// `conclave scansion [options] files-or-dirs...`: runs scansion scripts and
// reports each one as it finishes, with its step count and time.

import { parseArgs } from 'node:util';
import { writeJunitReport } from '../scansion/junit.js';
import { countResults, findScripts, runScript, type RunOptions, type ScriptResult, type Server } from '../scansion/runner.js';

const USAGE = `usage: conclave scansion [options] files-or-dirs...
  --host H               server to connect to (default: each JID's domain)
  --port P               port to connect to (default 5222)
  --spread H:P,H:P,...   the script's clients go to these servers in turn
  --timeout MS           how long a receive or connection step waits (default 5000)
  --nothing-wait MS      how long 'receives: nothing' listens (default 500)
  --send-delay MS        pause after every send (default 0)
  --keep-unread          keep every unread stanza queued
  --only-tags T,T,...    run only scripts with one of these tags
  --skip-tags T,T,...    skip scripts with any of these tags
  --verbose, -v          print the XML each client sends and receives
  --junit FILE           write a JUnit XML report`;

export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        spread: { type: 'string' },
        timeout: { type: 'string' },
        'nothing-wait': { type: 'string' },
        'send-delay': { type: 'string' },
        'keep-unread': { type: 'boolean' },
        'only-tags': { type: 'string' },
        'skip-tags': { type: 'string' },
        verbose: { type: 'boolean', short: 'v' },
        junit: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length === 0) {
    console.error(USAGE);
    return 2;
  }
  let options: RunOptions;
  try {
    options = {
      host: values.host,
      port: positiveInteger('--port', values.port),
      spread: values.spread === undefined ? undefined : parseSpread(values.spread),
      timeout: positiveInteger('--timeout', values.timeout),
      nothingWait: positiveInteger('--nothing-wait', values['nothing-wait']),
      sendDelay: positiveInteger('--send-delay', values['send-delay']),
      keepUnread: values['keep-unread'],
      onlyTags: list(values['only-tags']),
      skipTags: list(values['skip-tags']),
      trace: values.verbose ? (client, direction, xml) => console.log(`${client} ${arrow[direction]} ${xml}`) : undefined,
    };
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }

  // Script by script rather than runScripts, to report each one as it finishes.
  const results: ScriptResult[] = [];
  for (const file of await findScripts(positionals)) {
    const result = await runScript(file, options);
    console.log(report(result));
    results.push(result);
  }
  if (values.junit !== undefined) await writeJunitReport(values.junit, results);
  if (results.length === 0) console.error('no scripts found');
  const { passed, failed, skipped } = countResults(results);
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  return failed > 0 || results.length === 0 ? 1 : 0;
}

const arrow = { sent: '>>', received: '<<' } as const;

/** undefined when absent; throws when not a positive integer. */
function positiveInteger(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number <= 0) throw new Error(`${flag} takes a positive integer, not '${value}'`);
  return number;
}

function list(value: string | undefined): string[] | undefined {
  return value?.split(',').map((item) => item.trim()).filter((item) => item !== '');
}

/** `--spread host:port,host:port,…` (also `conclave bench`'s): the servers clients go to in turn. */
export function parseSpread(value: string): Server[] {
  const spread = list(value)!.map((server) => {
    const match = /^(.+):(\d+)$/.exec(server);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) throw new Error(`--spread takes host:port,host:port,..., not '${server}'`);
    return { host: match[1], port };
  });
  if (spread.length === 0) throw new Error('--spread needs at least one host:port');
  return spread;
}

function report(result: ScriptResult): string {
  const { failure } = result;
  const time = `${Math.round(result.durationMs)} ms`;
  if (result.skipped) return `SKIP ${result.file}`;
  if (!failure) return `PASS ${result.file} (${result.steps} steps, ${time})`;
  const lines = [
    `FAIL ${result.file}:${failure.line} (step ${result.steps} of ${result.totalSteps}, ${time})`,
    `  ${failure.action}: ${failure.message}`,
  ];
  const indent = (xml: string) => xml.replace(/^/gm, '    ');
  if (failure.expected !== undefined) lines.push('  expected:', indent(failure.expected));
  if (failure.received !== undefined) lines.push('  received:', indent(failure.received));
  return lines.join('\n');
}
