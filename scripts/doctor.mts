#!/usr/bin/env node
// isollm doctor: one line per prerequisite, ✓ or ✗ with the exact fix; exit 1 when a required one fails.
import { c, type CommandSpec, EXIT, flagBool, flagString, type Main, out, parse, printJson, runIfEntry, SYMBOLS } from 'isollm/cli';
import { type Check, runDoctor } from 'isollm/flows';
import { findProjectRoot, startDir } from 'isollm/project';

export const SPEC: CommandSpec = {
  name: 'isollm doctor',
  summary: 'check every prerequisite and say how to fix what is missing',
  flags: { json: { type: 'boolean', description: 'print the checks as JSON' } },
  notes: ['Outside a project (no isollm.yaml) only the host is checked: the image, queue port and agent checks are skipped.'],
};

export function formatCheck(check: Check): string {
  const symbol = { ok: c.green(SYMBOLS.ok), fail: c.red(SYMBOLS.fail), warn: c.yellow(SYMBOLS.warn), skip: c.dim(SYMBOLS.stopped) }[check.status];
  return `${symbol} ${check.title}: ${check.detail}${check.fix ? ` ${SYMBOLS.arrow} ${check.fix}` : ''}`;
}

export const main: Main = async (argv) => {
  const p = parse(SPEC, argv);
  if (!p) return;
  const root = findProjectRoot(startDir(flagString(p, 'project')));
  const report = await runDoctor(root);
  if (flagBool(p, 'json')) printJson(report);
  else for (const check of report.checks) out(formatCheck(check));
  return report.ok ? EXIT.ok : EXIT.failure;
};

runIfEntry(import.meta.url, main);
