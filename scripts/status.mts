#!/usr/bin/env node
import { parse, runIfEntry, type Main } from '../lib/cli.ts';
import { UserError } from '../lib/errors.ts';

const SPEC = { name: 'isollm status', summary: 'not built yet' };

export const main: Main = async (argv) => {
  const p = parse(SPEC, argv);
  if (!p) return;
  throw new UserError('`isollm status` is not built yet.');
};

runIfEntry(import.meta.url, main);
