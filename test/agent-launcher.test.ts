// The in-container launcher, run on the host with sh: argv and env files are read, never evaluated.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { envFile, linesFile } from '../lib/agent/presets.ts';
import { NODE, ROOT, tmpDir } from './helpers.ts';

const LAUNCHER = path.join(ROOT, 'templates', 'isollm-agent');
const NASTY = ['two words', "it's", '$(touch pwned)', '`touch pwned`', '"quoted"', '*', ' lead', '-n'];

function setup(argv: string[], env: Record<string, string>) {
  const home = tmpDir();
  const dir = path.join(home, '.isollm');
  fs.mkdirSync(dir);
  // The "agent" prints its argv, stdin and chosen env as JSON.
  const dump = `const fs=require('fs');console.log(JSON.stringify({argv:process.argv.slice(1),stdin:fs.readFileSync(0,'utf8'),secret:process.env.SECRET,prompt:process.env.ISOLLM_TASK_PROMPT}))`;
  fs.writeFileSync(path.join(dir, 'agent.argv'), linesFile([NODE, '-e', dump, ...argv], 'argv'));
  fs.writeFileSync(path.join(dir, 'headless.argv'), linesFile([NODE, '-e', dump, ...argv, '--prompt', '{prompt}'], 'argv'));
  fs.writeFileSync(path.join(dir, 'agent.env'), envFile(env, 'env'), { mode: 0o600 });
  return home;
}

function launch(home: string, args: string[], input = '') {
  const r = spawnSync('sh', [LAUNCHER, ...args], { cwd: home, env: { HOME: home, PATH: process.env.PATH }, input, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(fs.existsSync(path.join(home, 'pwned'))).toBe(false);
  return JSON.parse(r.stdout);
}

describe('isollm-agent', () => {
  it('passes every argument verbatim and exports env values without evaluating them', () => {
    const home = setup(NASTY, { SECRET: '$(touch pwned) `x` "y"' });
    const got = launch(home, [], 'typed');
    expect(got.argv).toEqual(NASTY);
    expect(got.secret).toBe('$(touch pwned) `x` "y"');
    expect(got.stdin).toBe('typed');
  });

  it('headless: the prompt replaces {prompt} (stdin stays empty) and is in ISOLLM_TASK_PROMPT', () => {
    const home = setup(['x'], {});
    const prompt = "Task ar-1: fix 'it'\n\n$(touch pwned)";
    fs.writeFileSync(path.join(home, 'prompt.txt'), prompt);
    const got = launch(home, ['headless', path.join(home, 'prompt.txt')], 'not the prompt');
    expect(got.argv).toEqual(['x', '--prompt', prompt]);
    expect(got.stdin).toBe('');
    expect(got.prompt).toBe(prompt);
  });

  it('headless without {prompt} in the argv (a custom agent): the prompt comes on stdin', () => {
    const home = setup(['x'], {});
    fs.writeFileSync(path.join(home, '.isollm', 'headless.argv'), fs.readFileSync(path.join(home, '.isollm', 'agent.argv')));
    fs.writeFileSync(path.join(home, 'prompt.txt'), 'Task ar-2: y');
    const got = launch(home, ['headless', path.join(home, 'prompt.txt')]);
    expect(got.argv).toEqual(['x']);
    expect(got.stdin).toBe('Task ar-2: y');
    expect(got.prompt).toBe('Task ar-2: y');
  });

  it('background: starts the command detached once; a live agent is left alone, a stale pid file is not', () => {
    const home = setup([], {});
    const dir = path.join(home, '.isollm');
    const bg = () => spawnSync('sh', [LAUNCHER, 'background', 'sleep', '30'], { cwd: home, env: { HOME: home, PATH: process.env.PATH }, encoding: 'utf8' });
    const kill = () => {
      const pid = Number(fs.readFileSync(path.join(dir, 'agent.pid'), 'utf8').split(' ')[0]);
      try { process.kill(pid); } catch { /* already gone */ }
    };
    // A pid file naming a live process with another start time (a pid reused after a restart).
    fs.writeFileSync(path.join(dir, 'agent.pid'), `${process.pid} 1\n`);
    expect(bg().status).toBe(0);
    try {
      const [pid, start] = fs.readFileSync(path.join(dir, 'agent.pid'), 'utf8').trim().split(' ');
      expect(Number(pid)).not.toBe(process.pid);
      // The detached child execs setsid, then sleep: until it has, its cmdline is still the shell's.
      const cmdline = () => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      for (const until = Date.now() + 5000; cmdline() !== 'sleep\x0030\x00' && Date.now() < until; ) spawnSync('sleep', ['0.05']);
      expect(cmdline()).toBe('sleep\x0030\x00');
      expect(start).toMatch(/^\d+$/);
      const again = bg();
      expect(again.stdout).toBe(`isollm-agent: already running (pid ${pid})\n`);
      expect(fs.readFileSync(path.join(dir, 'agent.log'), 'utf8').match(/==> sleep 30 started/g)).toHaveLength(1);
    } finally {
      kill();
    }
  });

  it('stop: ends the detached agent with its process group and clears the pid file', async () => {
    const home = setup([], {});
    const dir = path.join(home, '.isollm');
    const env = { HOME: home, PATH: process.env.PATH };
    // The "agent" starts a child of its own: stop must end both.
    expect(spawnSync('sh', [LAUNCHER, 'background', 'sh', '-c', 'sleep 30 & wait'], { cwd: home, env }).status).toBe(0);
    const pid = Number(fs.readFileSync(path.join(dir, 'agent.pid'), 'utf8').split(' ')[0]);
    await new Promise((r) => setTimeout(r, 200));
    const children = spawnSync('pgrep', ['-g', String(pid)], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
    expect(children.length).toBeGreaterThanOrEqual(2);
    const stop = spawnSync('sh', [LAUNCHER, 'stop'], { cwd: home, env, encoding: 'utf8' });
    expect(stop.stdout).toBe(`isollm-agent: stopped pid ${pid}\n`);
    await new Promise((r) => setTimeout(r, 200));
    for (const child of children) expect(fs.existsSync(`/proc/${child}/stat`) && !fs.readFileSync(`/proc/${child}/stat`, 'utf8').includes(') Z ')).toBe(false);
    expect(fs.existsSync(path.join(dir, 'agent.pid'))).toBe(false);
    expect(spawnSync('sh', [LAUNCHER, 'stop'], { cwd: home, env, encoding: 'utf8' }).stdout).toBe('');
  });

  it('stop: returns once the agent is gone, even one that takes a moment to exit (its exit trap runs before anything starts next)', () => {
    const home = setup([], {});
    const dir = path.join(home, '.isollm');
    const env = { HOME: home, PATH: process.env.PATH };
    const marker = path.join(home, 'trap-ran');
    // An agent that needs 0.6 s after SIGTERM, as the loop's exit trap reporting its state does.
    const agent = `trap 'sleep 0.6; touch ${marker}; exit 0' TERM; while :; do sleep 0.1; done`;
    expect(spawnSync('sh', [LAUNCHER, 'background', 'sh', '-c', agent], { cwd: home, env }).status).toBe(0);
    const pid = Number(fs.readFileSync(path.join(dir, 'agent.pid'), 'utf8').split(' ')[0]);
    spawnSync('sleep', ['0.3']);
    const stop = spawnSync('sh', [LAUNCHER, 'stop'], { cwd: home, env, encoding: 'utf8' });
    expect(stop.stdout).toBe(`isollm-agent: stopped pid ${pid}\n`);
    expect(fs.existsSync(marker)).toBe(true);
    expect(fs.existsSync(`/proc/${pid}/stat`) && !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')).toBe(false);
  });
});
