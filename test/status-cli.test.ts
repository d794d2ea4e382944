// `isollm status` as a user runs it: a spawned CLI against a temp project.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { STATUS_SCHEMA } from '../lib/status/schema.ts';
import { cliProject, NODE, ROOT, runCli, tmpDir } from './helpers.ts';

describe('isollm status (CLI)', () => {
  it('nothing running: shows that state with hints, exit 0', async () => {
    const { cli, hub, port } = await cliProject();
    const full = cli('status');
    expect(full.code, full.stderr).toBe(0);
    expect(full.stderr).toBe('');
    expect(full.stdout).toContain('Tasks     ✗ The queue is not running. Start it with `isollm queue start` (or `isollm up`).');
    expect(full.stdout).toContain(`Hub       no hub yet at ${hub}: \`isollm sync push\` or \`isollm up\` creates it`);
    expect(full.stdout).toContain(`queue        ○ http://127.0.0.1:${port} not answering`);
    expect(full.stdout).toContain('multiplexer  ○ no session (`isollm up` starts one)');
    expect(full.stdout).not.toMatch(/\x1b\[/); // no TTY: no colour, no cursor codes
    const brief = cli('status', '--brief');
    expect(brief.code).toBe(0);
    expect(brief.stdout).toMatch(/^demo: (no workers|workers unknown) · queue not answering · hub: no hub yet\n$/);
  });

  it('outside a project: the usual one-line error; bad flag combinations are usage errors', () => {
    const dir = tmpDir();
    const r = runCli(['status'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`✗ No isollm.yaml in ${dir} or above. Run \`isollm init\` there first, or pass --project DIR.`);
    expect(runCli(['status', '--brief', '--json'], { cwd: dir }).code).toBe(2);
    expect(runCli(['status', '--watch', '--json'], { cwd: dir }).code).toBe(2);
    expect(runCli(['status', '--interval', '1'], { cwd: dir }).code).toBe(2);
    expect(runCli(['status', '--watch', '--interval', '0'], { cwd: dir }).stderr).toContain('--interval must be a number of seconds ≥ 0.1');
    const schema = runCli(['status', '--schema'], { cwd: dir });
    expect(JSON.parse(schema.stdout)).toEqual(JSON.parse(JSON.stringify(STATUS_SCHEMA)));
  });

  it('--watch keeps drawing through a stopped queue, shows the error, and exits cleanly on Ctrl-C', async () => {
    const { root, cli } = await cliProject();
    expect(cli('queue', 'start').code).toBe(0);
    expect(cli('task', 'add', 'Watch me').code).toBe(0);
    const child = spawn(NODE, [path.join(ROOT, 'scripts', 'isollm.mts'), 'status', '--watch', '--interval', '0.2'], {
      cwd: root,
      env: { ...process.env, NO_COLOR: '1', INIT_CWD: root },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onTestFinished(() => void child.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    // Frames are separated by a blank line and each starts with its header line.
    const frames = () => stdout.split(/\n(?=isollm · demo · )/).filter((f) => f.startsWith('isollm · demo'));
    const waitFor = async (what: () => boolean, label: string) => {
      for (let i = 0; i < 200 && !what(); i++) await sleep(50);
      expect(what(), `${label}\n--- stdout:\n${stdout}\n--- stderr:\n${stderr}`).toBe(true);
    };

    await waitFor(() => frames().some((f) => f.includes('Tasks     1 ready')), 'a frame with the task counts');
    expect(cli('queue', 'stop').code).toBe(0);
    await waitFor(() => frames().some((f) => f.includes('✗ The queue is not running')), 'a frame with the queue error');
    const afterError = frames().length;
    await waitFor(() => frames().length >= afterError + 2, 'more frames after the error');
    expect(frames().at(-1)).toMatch(/updated \d\d:\d\d:\d\d/);

    child.kill('SIGINT');
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(stderr).toBe('');
    expect(stdout).not.toMatch(/\x1b\[/); // no TTY: plain frames
  });
});
