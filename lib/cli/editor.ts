// Opening the user's editor: $VISUAL, else $EDITOR, else vi, split into words as a shell would
// (so `code -w` or `"/opt/My Editor/bin/edit" --wait` work) and run without a shell.
import { spawnSync } from 'node:child_process';
import { UserError } from './errors.ts';

/** Split a command line into words: whitespace separates; '…' is literal; "…" and \ escape as in sh. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) throw new UserError(`Unterminated ' in editor command: ${line}`);
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (ch === '"') {
      inWord = true;
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\' && '\\"$`'.includes(line[i + 1] ?? '')) i++;
        word += line[i];
      }
      if (i >= line.length) throw new UserError(`Unterminated " in editor command: ${line}`);
    } else if (ch === '\\') {
      word += line[++i] ?? '';
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** The editor command as words. */
export function editorCommand(env: NodeJS.ProcessEnv = process.env): string[] {
  const line = env.VISUAL?.trim() || env.EDITOR?.trim() || 'vi';
  const words = splitWords(line);
  if (!words.length) throw new UserError('$VISUAL / $EDITOR is empty. Set one, e.g. `export EDITOR=nano`.');
  return words;
}

/** Open `file` in the editor and wait for it to exit. */
export function openEditor(file: string, env: NodeJS.ProcessEnv = process.env): void {
  const [command, ...args] = editorCommand(env);
  const r = spawnSync(command, [...args, file], { stdio: 'inherit', env });
  if (r.error) {
    throw new UserError(`Cannot start the editor "${command}": ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}. Set $VISUAL or $EDITOR to an editor you have.`);
  }
  if (r.status !== 0) throw new UserError(`The editor "${command}" exited with ${r.status ?? r.signal}; ${file} is as it last saved it.`);
}
