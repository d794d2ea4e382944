import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { addSuite, mirrorOf, parseDeb822, parseOsRelease, readMirror } from '../lib/runtime/apt-source.ts';
import { tmpDir } from './helpers.ts';

// The shape of /etc/apt/sources.list.d/debian.sources on these machines (mirror host replaced).
const SOURCES = `Types: deb
# http://snapshot.example.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

describe('deb822 apt sources', () => {
  it('parses paragraphs and skips comments', () => {
    const entries = parseDeb822(SOURCES);
    expect(entries).toHaveLength(2);
    expect(entries[0].fields.Suites).toBe('bookworm bookworm-updates');
    expect(entries[1].fields.URIs).toBe('http://mirror.example.org/debian-security');
  });

  it('finds the mirror of the entry holding the codename itself, not -security', () => {
    expect(mirrorOf(SOURCES, 'bookworm')).toBe('http://mirror.example.org/debian');
    expect(mirrorOf(SOURCES, 'trixie')).toBeNull();
  });

  it('adds a suite to the main entry once, leaving everything else as it was', () => {
    const once = addSuite(SOURCES, 'bookworm', 'bookworm-backports');
    expect(once).toContain('Suites: bookworm bookworm-updates bookworm-backports\n');
    expect(once.replace(' bookworm-backports', '')).toBe(SOURCES);
    expect(addSuite(once, 'bookworm', 'bookworm-backports')).toBe(once);
  });

  it('reads the mirror from a sources directory, and says how to fix a missing one', () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'debian.sources'), SOURCES);
    expect(readMirror('bookworm', dir)).toBe('http://mirror.example.org/debian');
    expect(() => readMirror('trixie', dir)).toThrow(/no deb822 entry for "trixie".*ISOLLM_DEBIAN_MIRROR/);
  });

  it('parses os-release', () => {
    expect(parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_CODENAME=bookworm\n')).toEqual({ id: 'debian', codename: 'bookworm', like: [] });
    expect(parseOsRelease('ID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\n').like).toEqual(['debian']);
  });
});
