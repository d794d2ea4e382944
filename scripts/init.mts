#!/usr/bin/env node
import { parse, runIfEntry, type Main } from '../lib/cli.ts';

const SPEC = { name: 'isollm init', summary: 'TODO' };

export const main: Main = async (argv) => {
  const p = parse(SPEC, argv);
  if (!p) return;
};

runIfEntry(import.meta.url, main);
