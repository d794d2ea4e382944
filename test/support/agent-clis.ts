// The real agent CLIs (claude, codex, gemini, opencode) for the agent tests: installed from the npm
// registry with the ordinary client, pinned by test/fixtures/agent-clis (package.json + lockfile),
// into a cache directory keyed by the lockfile — never into isollm's own dependencies. `.ci/run` runs
// this file to install them before the tests; a test that finds them missing installs them itself.
// The cache is readable by every user: the tests run the CLIs as a throwaway non-root user.
//   node test/support/agent-clis.ts      install (quick when cached), print the bin directory
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const FIXTURE = path.resolve(import.meta.dirname, '..', 'fixtures', 'agent-clis');
export const AGENT_CLIS = ['claude', 'codex', 'gemini', 'opencode'] as const;
export type AgentCli = (typeof AGENT_CLIS)[number];

/** $ISOLLM_AGENT_CLIS_CACHE, else /var/tmp/isollm/agent-clis (outside root's home, so a test user can read it). */
export function agentClisDir(env: NodeJS.ProcessEnv = process.env): string {
  const lock = fs.readFileSync(path.join(FIXTURE, 'package-lock.json'));
  const key = crypto.createHash('sha256').update(lock).digest('hex').slice(0, 12);
  return path.join(env.ISOLLM_AGENT_CLIS_CACHE || '/var/tmp/isollm/agent-clis', key);
}

export function agentClisBin(dir = agentClisDir()): string {
  return path.join(dir, 'node_modules', '.bin');
}

export function agentClisInstalled(dir = agentClisDir()): boolean {
  return AGENT_CLIS.every((c) => fs.existsSync(path.join(agentClisBin(dir), c)));
}

function run(cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${output.slice(-2000)}`))));
  });
}

/**
 * Install the pinned CLIs into the cache unless they are there; the bin directory. Installed into a
 * temporary directory and renamed, so an interrupted install never looks done. Install scripts are
 * not run, but for claude's and opencode's own, which they need.
 */
export async function ensureAgentClis(dir = agentClisDir()): Promise<string> {
  if (agentClisInstalled(dir)) return agentClisBin(dir);
  fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o755 });
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { mode: 0o755 });
  for (const f of ['package.json', 'package-lock.json']) fs.copyFileSync(path.join(FIXTURE, f), path.join(tmp, f));
  // `npm ci` refuses this lockfile (opencode-ai lists platform packages without versions); install keeps to it.
  await run('npm', ['install', '--ignore-scripts', '--omit-lockfile-registry-resolved', '--no-audit', '--no-fund', '--loglevel=error'], tmp);
  // claude's and opencode's install steps put their platform binary in place of a stub bin
  // (codex's launcher finds its own at run time).
  await run(process.execPath, ['install.cjs'], path.join(tmp, 'node_modules', '@anthropic-ai', 'claude-code'));
  await run(process.execPath, ['postinstall.mjs'], path.join(tmp, 'node_modules', 'opencode-ai'));
  try {
    fs.renameSync(tmp, dir);
  } catch (err) {
    // Another run installed it meanwhile.
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!agentClisInstalled(dir)) throw err;
  }
  return agentClisBin(dir);
}

/**
 * The registry's own tarballs of claude and its linux platform package (the installed copy is not
 * one: claude's install step moved its binary), for the stand-in npm registry of
 * test/e2e/agent-registry.test.ts: `npm pack` by the ordinary client, from npm's cache when it has
 * them (the install above put them there), into `<cache>/packs`. Their paths.
 */
export async function ensureClaudePacks(dir = agentClisDir()): Promise<string[]> {
  const lock = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  const names = ['@anthropic-ai/claude-code', `@anthropic-ai/claude-code-linux-${process.arch}`];
  const specs = names.map((n) => `${n}@${lock.packages[`node_modules/${n}`]?.version}`);
  const packs = path.join(dir, 'packs');
  const files = specs.map((s) => path.join(packs, `${s.slice(1).replace('/', '-').replace('@', '-')}.tgz`));
  if (files.every((f) => fs.existsSync(f))) return files;
  const tmp = `${packs}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true, mode: 0o755 });
  await run('npm', ['pack', '--prefer-offline', '--loglevel=error', '--pack-destination', tmp, ...specs], tmp);
  fs.mkdirSync(packs, { recursive: true, mode: 0o755 });
  for (const f of files) fs.renameSync(path.join(tmp, path.basename(f)), f);
  fs.rmSync(tmp, { recursive: true, force: true });
  return files;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = Date.now();
  const cached = agentClisInstalled();
  const bin = await ensureAgentClis();
  await ensureClaudePacks();
  console.log(`agent CLIs ${cached ? 'cached' : 'installed'} in ${bin} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
