// agent.install: what installs the preset's CLI in the project's base. The registry script is run
// for real (sh) against stand-in npm/apt-get commands; the push from agent.install_from is checked on
// a directory laid out as npm lays out the real packages (the real push into a real base is in
// test/e2e/agent-claude.test.ts and agent-codex.test.ts).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AGENT_OPT, AGENT_PACKAGES, agentInstall, HOME_PACKAGES_TGZ, NODE_FOR_AGENTS } from '../lib/agent/install.ts';
import { defaults, parseConfig, type Config } from '../lib/config/load.ts';
import { checkAgentInstall } from '../lib/flows/doctor.ts';
import { ROOT, tmpDir } from './helpers.ts';

const agent = (a: Partial<Config['agent']>): Config['agent'] => ({ ...defaults('p').agent, ...a });

/** Run `script` with only `bin` on PATH; the stand-ins log their argv to `calls`. */
function runScript(script: string, bin: string): { code: number | null; out: string; calls: string } {
  const file = path.join(bin, '..', 'install.sh');
  fs.writeFileSync(file, script);
  const r = spawnSync('/bin/sh', [file], { encoding: 'utf8', env: { PATH: bin, CALLS: path.join(bin, '..', 'calls') } });
  const callsFile = path.join(bin, '..', 'calls');
  return { code: r.status, out: r.stdout + r.stderr, calls: fs.existsSync(callsFile) ? fs.readFileSync(callsFile, 'utf8') : '' };
}

function fake(bin: string, name: string, body: string): void {
  fs.writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >> "$CALLS"\n${body}\n`, { mode: 0o755 });
}

describe('agent.install', () => {
  it('pins each npm preset at the version the real-CLI tests install (test/fixtures/agent-clis)', () => {
    const pinned = JSON.parse(fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'agent-clis', 'package.json'), 'utf8')).dependencies;
    expect(Object.fromEntries(Object.values(AGENT_PACKAGES).map((p) => [p.name, p.version]))).toEqual(pinned);
  });

  it('is on by default; off, for aider and for a custom agent nothing is installed', () => {
    expect(parseConfig('agent:\n  preset: codex\n', '/x').agent).toMatchObject({ install: true, install_from: null });
    expect(parseConfig('agent:\n  install_from: cache/clis\n', '/x').agent.install_from).toBe('/x/cache/clis');
    expect(() => parseConfig('agent:\n  install: yes please\n', '/x')).toThrow(/agent\.install.*true or false/);
    expect(agentInstall(agent({ preset: 'claude', install: false }))).toMatchObject({ script: null, files: [] });
    expect(agentInstall(agent({ preset: 'aider' }))).toMatchObject({ script: null, how: expect.stringContaining('pipx install aider-chat') });
    expect(agentInstall(agent({ preset: 'custom', command: 'bot' })).script).toBeNull();
  });

  it('from the registry: npm (and node from apt when the image has none) at the pinned version, then --version', () => {
    const { script, files } = agentInstall(agent({ preset: 'codex' }));
    expect(files).toEqual([]);
    const dir = tmpDir();
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fake(bin, 'apt-get', 'exit 0');
    fake(bin, 'node', 'echo 24');
    // npm "installs" codex: a codex command appears.
    fake(bin, 'npm', `case "$1" in config) echo http://127.0.0.1:9/;; view) echo 0.171.0;; install) printf '#!/bin/sh\\necho codex-cli 0.171.0\\n' > "${bin}/codex"; /bin/chmod 755 "${bin}/codex";; esac`);
    const r = runScript(script!, bin);
    expect(r).toMatchObject({ code: 0 });
    expect(r.calls).toBe('node -p process.versions.node.split(".")[0]\nnpm config get registry\nnpm view @openai/codex@0.171.0 version\nnpm install -g --no-audit --no-fund @openai/codex@0.171.0\n');
    expect(r.out).toContain('codex-cli 0.171.0');
    // Already there (setup_script or the image): left alone.
    fs.rmSync(path.join(dir, 'calls'));
    expect(runScript(script!, bin)).toMatchObject({ code: 0, calls: '', out: expect.stringContaining('codex is already installed') });
  });

  it("from the registry on an image whose node is older than the CLI's engines: node from the registry first", () => {
    const { script } = agentInstall(agent({ preset: 'claude' }));
    const dir = tmpDir();
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    // Debian bookworm's node 18; claude needs 22. After `npm install -g node@24` the stand-in node says 24.
    fake(bin, 'node', `[ -f "${dir}/new-node" ] && echo 24 || echo 18`);
    fake(bin, 'npm', `case "$*" in config*|view*) ;; *node@${NODE_FOR_AGENTS}*) : > "${dir}/new-node";; *) printf '#!/bin/sh\\necho 2.1.332\\n' > "${bin}/claude"; /bin/chmod 755 "${bin}/claude";; esac`);
    const r = runScript(script!, bin);
    expect(r).toMatchObject({ code: 0 });
    expect(r.out).toContain('node 18 is older than the 22 @anthropic-ai/claude-code needs');
    expect(r.calls.split('\n').filter((l) => l.startsWith('npm install'))).toEqual([`npm install -g --no-audit --no-fund node@${NODE_FOR_AGENTS}`, 'npm install -g --no-audit --no-fund @anthropic-ai/claude-code@2.1.332']);
    // A node that is new enough is left alone.
    fs.rmSync(path.join(dir, 'calls'));
    fs.rmSync(path.join(bin, 'claude'));
    expect(runScript(script!, bin).calls.split('\n').filter((l) => l.startsWith('npm install'))).toEqual(['npm install -g --no-audit --no-fund @anthropic-ai/claude-code@2.1.332']);
  });

  it('from the registry without network: one clear line and a failed build, not a base without the CLI', () => {
    const { script } = agentInstall(agent({ preset: 'claude' }));
    const dir = tmpDir();
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    // No npm in the image, and apt cannot fetch node.
    fake(bin, 'apt-get', '[ "$1" = update ] && exit 0; echo "E: Unable to locate package nodejs" >&2; exit 100');
    const r = runScript(script!, bin);
    expect(r.code).toBe(1);
    expect(r.calls).toBe('apt-get update -q\napt-get install -y -q --no-install-recommends nodejs npm\n');
    expect(r.out).toMatch(/^isollm: could not install claude: node and npm are not in the image and apt-get could not install them\. .*agent\.install_from.*npm install --prefix DIR @anthropic-ai\/claude-code@2\.1\.332.*agent\.install: false\.$/m);
  });

  it('from a registry that does not answer from the base: one line naming it, and no install tried', () => {
    const { script, registry } = agentInstall(agent({ preset: 'codex' }));
    expect(registry).toEqual({ node: 16 });
    const dir = tmpDir();
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fake(bin, 'node', 'echo 24');
    fs.symlinkSync('/bin/sed', path.join(bin, 'sed'));
    // A user:password in the registry's URL is not shown.
    fake(bin, 'npm', 'case "$1" in config) echo http://me:s3cret@127.0.0.1:9/;; view) echo "npm error code ECONNREFUSED" >&2; exit 1;; esac');
    const r = runScript(script!, bin);
    expect(r.code).toBe(1);
    expect(r.calls).not.toContain('npm install');
    expect(r.out).not.toContain('s3cret');
    expect(r.out).toMatch(/^isollm: could not install codex: the npm registry http:\/\/127\.0\.0\.1:9\/ does not answer from the base, or has no @openai\/codex@0\.171\.0 \(npm view failed\)\. /m);
  });

  it("doctor names the host's registry, and warns when the base cannot reach it or npm's config fails", () => {
    const base = { url: 'http://127.0.0.1:4873/', shown: 'http://127.0.0.1:4873/', npmrc: '', auth: true, loopback: { host: '127.0.0.1', port: 4873 }, npmVersion: '11.0.0' };
    expect(checkAgentInstall(agent({ preset: 'gemini' }), { registry: base, remote: false })).toMatchObject({
      status: 'ok',
      detail: "@google/gemini-cli@0.61.0 installed from the host's npm registry http://127.0.0.1:4873/, with its credentials when the base is built (forwarded into the base)",
    });
    expect(checkAgentInstall(agent({ preset: 'gemini' }), { registry: base, remote: true })).toMatchObject({ status: 'warn', detail: expect.stringContaining("a remote's base cannot reach it") });
    const lan = { ...base, url: 'https://npm.corp.test/', shown: 'https://npm.corp.test/', auth: false, loopback: null };
    expect(checkAgentInstall(agent({ preset: 'claude' }), { registry: lan, remote: true })).toMatchObject({
      status: 'ok',
      detail: "@anthropic-ai/claude-code@2.1.332 installed from the host's npm registry https://npm.corp.test/ when the base is built (the base's network must reach it)",
    });
    expect(checkAgentInstall(agent({ preset: 'claude' }), new Error('`npm config get registry` failed on the host: bad'))).toMatchObject({ status: 'warn', detail: '`npm config get registry` failed on the host: bad' });
  });

  it('from agent.install_from: the native build pushed, linked onto PATH; the base key follows the files', () => {
    const from = tmpDir();
    const nm = path.join(from, 'node_modules');
    const put = (rel: string, content: string) => {
      fs.mkdirSync(path.dirname(path.join(nm, rel)), { recursive: true });
      fs.writeFileSync(path.join(nm, rel), content, { mode: 0o755 });
    };
    put('@anthropic-ai/claude-code/bin/claude.exe', 'ELF claude');
    put('@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex', 'ELF codex');
    put('@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex-code-mode-host', 'ELF host');
    put('@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/codex-path/rg', 'ELF rg');

    const claude = agentInstall(agent({ preset: 'claude', install_from: from }), 'x64');
    expect(claude.files).toEqual([{ host: path.join(nm, '@anthropic-ai/claude-code/bin/claude.exe'), path: `${AGENT_OPT}/claude/claude.exe`, mode: 0o755 }]);
    expect(claude.script).toContain(`ln -sf ${AGENT_OPT}/claude/claude.exe /usr/local/bin/claude\nclaude --version\n`);
    expect(claude.warning).toBeUndefined();
    expect(checkAgentInstall(agent({ preset: 'claude', install_from: from }))).toMatchObject({ status: 'ok', detail: expect.stringContaining('pushed into the base') });

    const codex = agentInstall(agent({ preset: 'codex', install_from: from }), 'x64');
    expect(codex.files.map((f) => f.path)).toEqual(['bin/codex', 'bin/codex-code-mode-host', 'codex-path/rg'].map((f) => `${AGENT_OPT}/codex/${f}`));
    expect(codex.script).toContain(`ln -sf ${AGENT_OPT}/codex/bin/codex /usr/local/bin/codex`);

    // Another copy of the CLI (a new version) changes the script, so the base is rebuilt.
    fs.writeFileSync(path.join(nm, '@anthropic-ai/claude-code/bin/claude.exe'), 'ELF claude, a newer one');
    expect(agentInstall(agent({ preset: 'claude', install_from: from }), 'x64').script).not.toBe(claude.script);

    // Not there: the registry, and doctor says what is wrong.
    const opencode = agentInstall(agent({ preset: 'opencode', install_from: from }));
    expect(opencode.files).toEqual([]);
    expect(opencode.script).toContain('npm install -g --no-audit --no-fund opencode-ai@1.18.33');
    expect(checkAgentInstall(agent({ preset: 'opencode', install_from: from }))).toMatchObject({
      status: 'warn',
      detail: `agent.install_from ${from} has no opencode-ai/bin/opencode.exe; install it there with \`npm install --prefix ${from} opencode-ai@1.18.33\``,
    });
    // gemini is JavaScript only: nothing to push.
    expect(checkAgentInstall(agent({ preset: 'gemini', install_from: from }))).toMatchObject({ status: 'warn', detail: expect.stringContaining('needs node 20+') });
    expect(checkAgentInstall(agent({ preset: 'gemini' }))).toMatchObject({ status: 'ok', detail: expect.stringContaining("@google/gemini-cli@0.61.0 installed from the host's npm registry") });
    expect(checkAgentInstall(agent({ preset: 'aider' }))).toMatchObject({ status: 'skip' });
  });

  it("opencode: its plugin package, installed by the host's npm, unpacked into ~/.config/opencode for dev in both ways", () => {
    const from = tmpDir();
    fs.mkdirSync(path.join(from, 'node_modules/opencode-ai/bin'), { recursive: true });
    fs.writeFileSync(path.join(from, 'node_modules/opencode-ai/bin/opencode.exe'), 'ELF opencode', { mode: 0o755 });
    const home = { dir: '/home/dev/.config/opencode', specs: ['@opencode-ai/plugin@1.18.33'] };
    const pushed = agentInstall(agent({ preset: 'opencode', install_from: from }), 'x64');
    const registry = agentInstall(agent({ preset: 'opencode' }));
    expect([pushed.homePackages, registry.homePackages]).toEqual([home, home]);
    expect(pushed.how).toMatch(/\(no network needed\); @opencode-ai\/plugin@1\.18\.33 into ~\/\.config\/opencode by the host's npm$/);
    expect(agentInstall(agent({ preset: 'claude' })).homePackages).toBeUndefined();

    // The host's install as pushHomePackages tars it; the script run with that tarball and a stand-in home.
    const dir = tmpDir();
    const host = path.join(dir, 'host');
    fs.mkdirSync(path.join(host, 'node_modules/@opencode-ai/plugin'), { recursive: true });
    fs.writeFileSync(path.join(host, 'node_modules/@opencode-ai/plugin/package.json'), '{"version":"1.18.33"}');
    fs.writeFileSync(path.join(host, 'package.json'), '{"dependencies":{"@opencode-ai/plugin":"1.18.33"}}');
    fs.writeFileSync(path.join(host, 'package-lock.json'), '{}');
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    for (const c of ['tar', 'gzip', 'mkdir', 'rm']) fs.symlinkSync(spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' }).stdout.trim(), path.join(bin, c));
    fake(bin, 'id', '[ "$1" = -u ] && echo 1234 || echo 1235');
    fake(bin, 'chown', 'exit 0');
    fake(bin, 'npm', 'exit 1');
    const tgz = path.join(dir, 'home-packages.tgz');
    expect(spawnSync('tar', ['-czf', tgz, '-C', host, 'package.json', 'package-lock.json', 'node_modules']).status).toBe(0);
    const devHome = path.join(dir, 'home', 'dev');
    const local = (script: string) => script.replaceAll(HOME_PACKAGES_TGZ, tgz).replaceAll('/home/dev', devHome)
      // The CLI itself is not what this checks: it is already there.
      .replaceAll(`ln -sf ${AGENT_OPT}/opencode/opencode.exe /usr/local/bin/opencode\n`, '').replace(/^opencode --version$/m, 'echo 1.18.33');
    for (const script of [pushed.script!, registry.script!]) {
      fs.writeFileSync(path.join(bin, 'opencode'), '#!/bin/sh\necho 1.18.33\n', { mode: 0o755 });
      fs.rmSync(path.join(dir, 'calls'), { force: true });
      fs.rmSync(path.join(dir, 'home'), { recursive: true, force: true });
      const r = runScript(local(script), bin);
      expect(r).toMatchObject({ code: 0, out: expect.stringContaining(`@opencode-ai/plugin@1.18.33 in ${devHome}/.config/opencode`) });
      expect(fs.readFileSync(path.join(devHome, '.config/opencode/node_modules/@opencode-ai/plugin/package.json'), 'utf8')).toBe('{"version":"1.18.33"}');
      expect(fs.readdirSync(path.join(devHome, '.config/opencode')).sort()).toEqual(['node_modules', 'package-lock.json', 'package.json']);
      // dev owns it all, from ~/.config down (mkdir -p made it as root); the tarball is gone.
      expect(r.calls).toContain(`chown -R 1234:1235 ${devHome}/.config\n`);
      expect(fs.existsSync(tgz)).toBe(false);
      expect(spawnSync('tar', ['-czf', tgz, '-C', host, 'package.json', 'package-lock.json', 'node_modules']).status).toBe(0);
    }
    // Without the tarball (the host's npm could not install it) the install goes on without it.
    fs.rmSync(tgz);
    fs.rmSync(path.join(dir, 'home'), { recursive: true, force: true });
    expect(runScript(local(pushed.script!), bin)).toMatchObject({ code: 0 });
    expect(fs.existsSync(path.join(devHome, '.config'))).toBe(false);
  });
});
