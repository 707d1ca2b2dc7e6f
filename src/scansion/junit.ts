// JUnit XML for CI systems: one test suite, one test case per script; a script
// left out by its tags is a skipped test case.

import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { escapeAttribute, escapeText } from '../xml/escape.js';
import { countResults, type ScriptResult } from './runner.js';

export function junitReport(results: ScriptResult[], suiteName = 'scansion'): string {
  const { failed: failures, skipped } = countResults(results);
  const seconds = (ms: number) => (ms / 1000).toFixed(3);
  const totalMs = results.reduce((sum, result) => sum + result.durationMs, 0);
  const lines = [
    `<?xml version='1.0' encoding='UTF-8'?>`,
    `<testsuites tests='${results.length}' failures='${failures}' time='${seconds(totalMs)}'>`,
    `  <testsuite name='${escapeAttribute(suiteName)}' tests='${results.length}' failures='${failures}' ` +
      `errors='0' skipped='${skipped}' time='${seconds(totalMs)}'>`,
  ];
  for (const result of results) {
    const testcase =
      `    <testcase classname='${escapeAttribute(suiteName)}' name='${escapeAttribute(basename(result.file))}' ` +
      `file='${escapeAttribute(result.file)}' time='${seconds(result.durationMs)}'`;
    const { failure } = result;
    if (result.skipped) {
      lines.push(testcase + '><skipped/></testcase>');
      continue;
    }
    if (!failure) {
      lines.push(testcase + '/>');
      continue;
    }
    const message = `line ${failure.line}: ${failure.action}: ${failure.message}`;
    const details = [message];
    if (failure.expected !== undefined) details.push('expected:', failure.expected);
    if (failure.received !== undefined) details.push('received:', failure.received);
    lines.push(
      testcase + '>',
      `      <failure message='${escapeAttribute(message)}'>${escapeText(details.join('\n'))}</failure>`,
      '    </testcase>',
    );
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}

export async function writeJunitReport(file: string, results: ScriptResult[]): Promise<void> {
  await writeFile(file, junitReport(results));
}
