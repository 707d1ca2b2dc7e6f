// `conclave scansion [--host H] [--port P] [--timeout MS] [--keep-unread]
// [--junit FILE] files-or-dirs...`: runs scansion scripts and reports each one.

import { parseArgs } from 'node:util';
import { writeJunitReport } from '../scansion/junit.js';
import { findScripts, runScript, type RunOptions, type ScriptResult } from '../scansion/runner.js';

const USAGE =
  'usage: conclave scansion [--host H] [--port P] [--timeout MS] [--keep-unread] [--junit FILE] files-or-dirs...';

export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        timeout: { type: 'string' },
        'keep-unread': { type: 'boolean' },
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
  const port = positiveInteger(values.port);
  const timeout = positiveInteger(values.timeout);
  if (port === null || timeout === null || positionals.length === 0) {
    console.error(positionals.length === 0 ? USAGE : `--port and --timeout take positive integers\n${USAGE}`);
    return 2;
  }
  const options: RunOptions = { host: values.host, port, timeout, keepUnread: values['keep-unread'] };

  // Script by script rather than runScripts, to report each one as it finishes.
  const results: ScriptResult[] = [];
  for (const file of await findScripts(positionals)) {
    const result = await runScript(file, options);
    console.log(report(result));
    results.push(result);
  }
  if (values.junit !== undefined) await writeJunitReport(values.junit, results);
  if (results.length === 0) console.error('no scripts found');
  const failed = results.filter((result) => !result.passed).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  return failed > 0 || results.length === 0 ? 1 : 0;
}

/** undefined when absent, null when not a positive integer. */
function positiveInteger(value: string | undefined): number | undefined | null {
  if (value === undefined) return undefined;
  const number = Number(value);
  return Number.isInteger(number) && number > 0 ? number : null;
}

function report(result: ScriptResult): string {
  const { failure } = result;
  if (!failure) return `PASS ${result.file}`;
  const lines = [`FAIL ${result.file}:${failure.line}`, `  ${failure.action}: ${failure.message}`];
  const indent = (xml: string) => xml.replace(/^/gm, '    ');
  if (failure.expected !== undefined) lines.push('  expected:', indent(failure.expected));
  if (failure.received !== undefined) lines.push('  received:', indent(failure.received));
  return lines.join('\n');
}
