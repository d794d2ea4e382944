// The machine's Debian apt source (deb822 format): where its mirror is, and adding a suite to it.
// Read at run time so no mirror host is ever written into isollm itself.
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../cli/errors.ts';

export const SOURCES_DIR = '/etc/apt/sources.list.d';
export const OS_RELEASE = '/etc/os-release';

export type Deb822Entry = { fields: Record<string, string>; start: number; end: number };

/** Paragraphs of a deb822 file, with their line ranges (comments kept out of the fields). */
export function parseDeb822(text: string): Deb822Entry[] {
  const lines = text.split('\n');
  const entries: Deb822Entry[] = [];
  let current: Deb822Entry | null = null;
  let lastKey = '';
  lines.forEach((line, i) => {
    if (!line.trim()) {
      if (current) entries.push(current);
      current = null;
      return;
    }
    if (line.startsWith('#')) return;
    current ??= { fields: {}, start: i, end: i };
    current.end = i;
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (m) {
      lastKey = m[1];
      current.fields[lastKey] = m[2].trim();
    } else if (/^\s/.test(line) && lastKey) {
      current.fields[lastKey] += ' ' + line.trim();
    }
  });
  if (current) entries.push(current);
  return entries;
}

/** The main Debian entry: one whose suites include the release codename itself. */
export function mainEntry(entries: Deb822Entry[], codename: string): Deb822Entry | undefined {
  return entries.find((e) => (e.fields.Suites ?? '').split(/\s+/).includes(codename) && (e.fields.Types ?? 'deb').split(/\s+/).includes('deb'));
}

/** The mirror URI of the main entry (first of its URIs). */
export function mirrorOf(text: string, codename: string): string | null {
  const entry = mainEntry(parseDeb822(text), codename);
  return entry?.fields.URIs?.split(/\s+/)[0] ?? null;
}

/** The file text with `suite` added to the main entry's Suites line; unchanged when already there. */
export function addSuite(text: string, codename: string, suite: string): string {
  const entry = mainEntry(parseDeb822(text), codename);
  if (!entry) throw new Error(`no apt source entry for ${codename}`);
  if (entry.fields.Suites.split(/\s+/).includes(suite)) return text;
  const lines = text.split('\n');
  for (let i = entry.start; i <= entry.end; i++) {
    if (/^Suites:/.test(lines[i])) {
      lines[i] = `${lines[i].trimEnd()} ${suite}`;
      break;
    }
  }
  return lines.join('\n');
}

export type OsRelease = { id: string; codename: string; like: string[] };

export function parseOsRelease(text: string): OsRelease {
  const get = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(text)?.[1]?.replace(/^"|"$/g, '') ?? '';
  return { id: get('ID'), codename: get('VERSION_CODENAME'), like: get('ID_LIKE').split(/\s+/).filter(Boolean) };
}

export function readOsRelease(file = OS_RELEASE): OsRelease {
  try {
    return parseOsRelease(fs.readFileSync(file, 'utf8'));
  } catch {
    return { id: 'unknown', codename: '', like: [] };
  }
}

/** The deb822 file holding the main entry for this release, with its text. */
export function findMainSource(codename: string, dir = SOURCES_DIR): { file: string; text: string } | null {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.sources')).sort();
  } catch {
    return null;
  }
  for (const name of names) {
    const file = path.join(dir, name);
    const text = fs.readFileSync(file, 'utf8');
    if (mainEntry(parseDeb822(text), codename)) return { file, text };
  }
  return null;
}

/** The machine's Debian mirror, for debootstrap. */
export function readMirror(codename: string, dir = SOURCES_DIR): string {
  const source = findMainSource(codename, dir);
  const mirror = source && mirrorOf(source.text, codename);
  if (!mirror) {
    throw new UserError(`Cannot find this machine's Debian mirror: no deb822 entry for "${codename}" with URIs: in ${dir}/*.sources. Set ISOLLM_DEBIAN_MIRROR to a mirror URL.`);
  }
  return mirror;
}
