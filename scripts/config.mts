#!/usr/bin/env node
import { askConfirm, c, canPrompt, type CommandSpec, fail, flagBool, flagString, type Main, ok, openEditor, out, parse, printJson, runIfEntry } from 'isollm/cli';
import { ConfigError, DEFAULT_MARK, formatResolvedConfig, readConfig, redactConfig } from 'isollm/config';
import { CONFIG_FILE, requireProjectRoot, statePaths } from 'isollm/project';

export const SPEC: CommandSpec = {
  name: 'isollm config',
  summary: 'show or edit the resolved configuration',
  subcommands: {
    show: {
      name: 'isollm config show',
      summary: `print the resolved configuration (defaults marked "# ${DEFAULT_MARK}", secrets hidden)`,
      flags: { json: { type: 'boolean', description: 'print JSON' } },
    },
    edit: {
      name: 'isollm config edit',
      summary: `open ${CONFIG_FILE} in $VISUAL / $EDITOR and check it after saving`,
    },
  },
};

export const main: Main = async (argv) => {
  const p = parse(SPEC, argv);
  if (!p) return;
  const root = requireProjectRoot(flagString(p, 'project'));
  if (p.path[0] === 'show') {
    const resolved = readConfig(root);
    if (flagBool(p, 'json')) return printJson(redactConfig(resolved.config));
    const mark = `# ${DEFAULT_MARK}`;
    for (const line of formatResolvedConfig(resolved).trimEnd().split('\n')) {
      out(line.endsWith(mark) ? line.slice(0, -mark.length) + c.dim(mark) : line);
    }
    return;
  }
  const file = statePaths(root).config;
  for (;;) {
    openEditor(file);
    try {
      readConfig(root);
      ok(`${file} is valid.`);
      return;
    } catch (err) {
      if (!(err instanceof ConfigError) || !canPrompt()) throw err;
      for (const problem of err.message.split('\n')) fail(problem);
      if (!(await askConfirm('Reopen the editor to fix it?', true, ''))) throw err;
    }
  }
};

runIfEntry(import.meta.url, main);
