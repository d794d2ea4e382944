// templates/isollm-state (POSIX sh + curl) run by dash against the real queue: what each CLI's hook
// events mean, the usage-limit messages and their reset times, and `isollm-task release --note`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { limitPatterns } from '../lib/agent/hooks.ts';
import { ROOT, runScript, tmpDir } from './helpers.ts';
import { call, projectApi, testServer } from './queue-helpers.ts';

const STATE = path.join(ROOT, 'templates', 'isollm-state');
const TASK = path.join(ROOT, 'templates', 'isollm-task');

/** expect.poll's 1 s is too short for a watcher process on a loaded 2-core machine (seen failing in CI). */
const POLL = { timeout: 15_000 };

describe('isollm-state', () => {
  it('turns Claude Code hook events into states: working → waiting → working → idle → exited', async () => {
    const s = await testServer();
    const env = { ISOLLM_QUEUE_PORT: String(s.port), ISOLLM_WORKER: 'worker-3' };
    const seen: string[] = [];
    const hook = async (event: Record<string, unknown>) => {
      const r = await runScript(STATE, env, ['hook', 'claude'], JSON.stringify({ session_id: 's1', cwd: '/home/dev/project', ...event }));
      expect(r).toMatchObject({ code: 0, stdout: '' });
      const st = (await call(s, 'GET', '/v1/isollm/agents/worker-3')).json;
      seen.push([st.state, st.detail ?? ''].join(' ').trim());
    };
    await hook({ hook_event_name: 'SessionStart', source: 'startup' });
    await hook({ hook_event_name: 'UserPromptSubmit', prompt: 'fix "it"' });
    await hook({ hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command: 'ls' } });
    await hook({ hook_event_name: 'PermissionRequest', tool_name: 'Bash', tool_input: { command: 'rm -rf x' } });
    await hook({ hook_event_name: 'Notification', notification_type: 'permission_prompt', message: 'Claude needs your permission to use Bash' });
    await hook({ hook_event_name: 'PostToolUse', tool_name: 'Bash' });
    await hook({ hook_event_name: 'Stop', stop_hook_active: false });
    await hook({ hook_event_name: 'Notification', notification_type: 'idle_prompt', message: 'Claude is waiting for your input' });
    await hook({ hook_event_name: 'SessionEnd', reason: 'prompt_input_exit' });
    expect(seen).toEqual(['idle', 'working', 'working', 'waiting permission: Bash', 'waiting Claude needs your permission to use Bash', 'working', 'idle', 'idle', 'exited prompt_input_exit']);
    expect((await call(s, 'GET', '/v1/isollm/agents/worker-3')).json).toMatchObject({ exit_status: 0, source: 'claude:SessionEnd' });
  });

  it('a usage limit in an interactive session: Claude\'s StopFailure and opencode\'s session.error make it limited until the reset, idle events do not end that, the next prompt does', async () => {
    const s = await testServer();
    const env = { ISOLLM_QUEUE_PORT: String(s.port), ISOLLM_WORKER: 'worker-4', HOME: tmpDir() };
    const state = async () => (await call(s, 'GET', '/v1/isollm/agents/worker-4')).json;
    const claude = (event: Record<string, unknown>) => runScript(STATE, env, ['hook', 'claude'], JSON.stringify(event));
    const before = Date.now();
    await claude({ hook_event_name: 'UserPromptSubmit', prompt: 'go' });
    await claude({ hook_event_name: 'StopFailure', error: 'rate_limit', error_details: '429 This request would exceed your rate limit. Try again in 2 hours.' });
    let st = await state();
    expect(st).toMatchObject({ state: 'limited', source: 'claude:StopFailure' });
    expect(Date.parse(st.until) - before).toBeGreaterThan(7190_000);
    expect(Date.parse(st.until) - before).toBeLessThan(7300_000);
    await claude({ hook_event_name: 'Stop' });
    await claude({ hook_event_name: 'Notification', notification_type: 'idle_prompt', message: 'Claude is waiting for your input' });
    expect((await state()).state).toBe('limited');
    await claude({ hook_event_name: 'UserPromptSubmit', prompt: 'again' });
    expect((await state()).state).toBe('working');
    // No reset time named: a backoff. Another failure is no limit: idle, saying why.
    await claude({ hook_event_name: 'StopFailure', error: 'billing_error' });
    st = await state();
    expect(st.state).toBe('limited');
    expect(Date.parse(st.until) - Date.now()).toBeGreaterThan(250_000);
    await claude({ hook_event_name: 'UserPromptSubmit', prompt: 'again' });
    await claude({ hook_event_name: 'StopFailure', error: 'server_error' });
    expect(await state()).toMatchObject({ state: 'idle', detail: 'stopped: server_error' });

    const opencode = async (event: Record<string, unknown>) => (await runScript(STATE, env, ['hook', 'opencode'], JSON.stringify(event))).code;
    const seen: string[] = [];
    for (const event of [
      { hook_event_name: 'session.status', status: 'busy' },
      { hook_event_name: 'permission.asked', tool_name: 'bash' },
      { hook_event_name: 'permission.replied' },
      { hook_event_name: 'question.asked', message: 'Which one?' },
      { hook_event_name: 'session.status', status: 'busy' },
      { hook_event_name: 'session.error', message: 'Rate limit exceeded, retry in 120s' },
      { hook_event_name: 'session.idle' },
    ]) {
      expect(await opencode(event)).toBe(0);
      const now = await state();
      seen.push([now.state, now.detail ?? ''].join(' ').trim());
    }
    expect(seen).toEqual(['working', 'waiting permission: bash', 'working', 'waiting question: Which one?', 'working', 'limited usage limit: Rate limit exceeded, retry in 120s', 'limited usage limit: Rate limit exceeded, retry in 120s']);
    expect(Date.parse((await state()).until) - Date.now()).toBeLessThan(125_000);
  });

  it('Gemini hooks get JSON back; Codex notify events come as an argument', async () => {
    const s = await testServer();
    const env = { ISOLLM_QUEUE_PORT: String(s.port), ISOLLM_WORKER: 'worker-1' };
    const state = async () => (await call(s, 'GET', '/v1/isollm/agents/worker-1')).json.state;
    expect(await runScript(STATE, env, ['hook', 'gemini'], '{"hook_event_name":"BeforeAgent","prompt":"x"}')).toMatchObject({ code: 0, stdout: '{}\n' });
    expect(await state()).toBe('working');
    await runScript(STATE, env, ['hook', 'gemini'], '{"hook_event_name":"Notification","notification_type":"ToolPermission","message":"Allow run_shell_command?"}');
    expect(await state()).toBe('waiting');
    await runScript(STATE, env, ['hook', 'gemini'], '{"hook_event_name":"AfterAgent"}');
    expect(await state()).toBe('idle');
    await runScript(STATE, env, ['working']);
    expect((await runScript(STATE, env, ['hook', 'codex', '{"type":"agent-turn-complete","thread-id":"t","last-assistant-message":"Done."}'])).code).toBe(0);
    expect(await state()).toBe('idle');
  });

  it('codex: its UserPromptSubmit starts a watcher of the transcript; a turn ending in a quota error is limited, a turn ending well leaves it alone', async () => {
    const s = await testServer();
    const home = tmpDir('isollm-cw-');
    fs.mkdirSync(path.join(home, '.isollm'));
    fs.writeFileSync(path.join(home, '.isollm', 'limit.patterns'), limitPatterns('codex').join('\n') + '\n');
    const env = { ISOLLM_QUEUE_PORT: String(s.port), ISOLLM_WORKER: 'worker-4', HOME: home, ISOLLM_CODEX_WATCH_EVERY: '0.1', ISOLLM_LIMIT_BACKOFF: '600' };
    const transcript = path.join(home, 'rollout.jsonl');
    // Lines before the turn (an earlier turn's error) do not count.
    fs.writeFileSync(transcript, '{"type":"event_msg","payload":{"type":"task_complete","error":{"message":"Quota exceeded. Check your plan and billing details.","codex_error_info":"usage_limit_exceeded"}}}\n');
    const prompt = () => runScript(STATE, env, ['hook', 'codex'], JSON.stringify({ hook_event_name: 'UserPromptSubmit', transcript_path: transcript, prompt: 'x' }));
    const get = async () => (await call(s, 'GET', '/v1/isollm/agents/worker-4')).json;
    const watcher = () => fs.existsSync(path.join(home, '.isollm', 'codex-watch.pid'));

    expect(await prompt()).toMatchObject({ code: 0, stdout: '' });
    await expect.poll(watcher, POLL).toBe(true);
    await new Promise((r) => setTimeout(r, 400));
    expect((await get()).state).toBe('working');
    fs.appendFileSync(transcript, '{"type":"event_msg","payload":{"type":"task_complete","turn_id":"t1","last_agent_message":"Done.","error":null}}\n');
    await expect.poll(watcher, POLL).toBe(false);
    expect((await get()).state).toBe('working'); // (its Stop hook says idle)

    await prompt();
    await expect.poll(watcher, POLL).toBe(true);
    fs.appendFileSync(transcript, '{"timestamp":"2026-12-01T14:57:15.773Z","type":"event_msg","payload":{"type":"task_complete","turn_id":"t2","last_agent_message":null,"error":{"message":"Quota exceeded. Check your plan and billing details.","codex_error_info":"usage_limit_exceeded"},"duration_ms":6766}}\n');
    await expect.poll(async () => (await get()).state, POLL).toBe('limited');
    const st = await get();
    expect(st).toMatchObject({ source: 'codex:task_complete', detail: 'usage limit: usage_limit_exceeded: Quota exceeded. Check your plan and billing details.' });
    expect(Date.parse(st.until) - Date.now()).toBeGreaterThan(590_000);
    await expect.poll(watcher, POLL).toBe(false); // it ends after its report

    // A retry limit spent on 429s: its text names no limit code, the patterns see it.
    await runScript(STATE, env, ['working']);
    await prompt();
    await expect.poll(watcher, POLL).toBe(true);
    // (the real codex 0.171.0's record, codex_error_info an object here)
    fs.appendFileSync(transcript, '{"type":"event_msg","payload":{"type":"task_complete","last_agent_message":null,"error":{"message":"exceeded retry limit, last status: 429 Too Many Requests","codex_error_info":{"response_too_many_failed_attempts":{"http_status_code":429}}}}}\n');
    await expect.poll(async () => (await get()).state, POLL).toBe('limited');
  });

  it('codex: the watcher ends with the codex that ran the hook (killed mid-turn, no task_complete ever comes)', async () => {
    const s = await testServer();
    const home = tmpDir('isollm-cw-');
    fs.mkdirSync(path.join(home, '.isollm'));
    const env = { ISOLLM_QUEUE_PORT: String(s.port), ISOLLM_WORKER: 'worker-5', HOME: home, ISOLLM_CODEX_WATCH_EVERY: '0.1' };
    const transcript = path.join(home, 'rollout.jsonl');
    fs.writeFileSync(transcript, '');
    const pidFile = path.join(home, '.isollm', 'codex-watch.pid');
    const event = JSON.stringify({ hook_event_name: 'UserPromptSubmit', transcript_path: transcript, prompt: 'x' });
    // A stand-in codex: it runs the hook through a shell (as a CLI may), then works on until killed.
    const codex = spawn(process.execPath, ['-e', `
      const { execFileSync } = require('node:child_process');
      execFileSync('sh', ['-c', 'dash "$0" hook codex; :', ${JSON.stringify(STATE)}], { input: ${JSON.stringify(event)}, stdio: ['pipe', 'ignore', 'ignore'] });
      setInterval(() => {}, 1000);`], { env: { PATH: process.env.PATH, ...env }, stdio: 'ignore' });
    const running = (pid: number) => { try { return !/^\S+ \S+ Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/\(.*\)/, 'x')); } catch { return false; } };
    try {
      await expect.poll(() => fs.existsSync(pidFile), { timeout: 10_000 }).toBe(true);
      const watcher = Number(fs.readFileSync(pidFile, 'utf8').split(' ')[0]);
      expect(running(watcher)).toBe(true);
      await new Promise((r) => setTimeout(r, 500));
      expect(running(watcher)).toBe(true); // it watches while codex runs
      codex.kill('SIGKILL');
      await expect.poll(() => running(watcher), { timeout: 10_000 }).toBe(false);
      expect(fs.existsSync(pidFile)).toBe(false);
      expect((await call(s, 'GET', '/v1/isollm/agents/worker-5')).json.state).toBe('working');
    } finally {
      codex.kill('SIGKILL');
    }
  });

  it('plain reports, and a queue that does not answer never fails the caller', async () => {
    const s = await testServer();
    const env = { ISOLLM_QUEUE_PORT: String(s.port), ISOLLM_WORKER: 'worker-1' };
    expect(await runScript(STATE, env, ['limited'])).toMatchObject({ code: 2, stderr: expect.stringContaining('limited needs --until') });
    expect((await runScript(STATE, env, ['limited', '--until', '4102444800', '--detail', 'usage limit'])).code).toBe(0);
    expect((await call(s, 'GET', '/v1/isollm/agents/worker-1')).json).toMatchObject({ state: 'limited', until: '2100-01-01T00:00:00.000Z', detail: 'usage limit' });
    expect((await runScript(STATE, env, ['exited', '--status', '3'])).code).toBe(0);
    expect((await call(s, 'GET', '/v1/isollm/agents/worker-1')).json).toMatchObject({ state: 'exited', exit_status: 3 });
    expect((await runScript(STATE, { ISOLLM_QUEUE_PORT: '1', ISOLLM_WORKER: 'worker-1' }, ['working'])).code).toBe(0);
    expect((await runScript(STATE, env, ['sleeping'])).code).toBe(2);
  });

  it('recognises usage limits and the reset time each CLI names', async () => {
    const dir = tmpDir();
    const patterns = path.join(dir, 'limit.patterns');
    const check = async (preset: Parameters<typeof limitPatterns>[0], text: string) => {
      fs.writeFileSync(patterns, limitPatterns(preset).join('\n') + '\n');
      const file = path.join(dir, 'out.txt');
      fs.writeFileSync(file, `some output\n${text}\n`);
      const before = Math.floor(Date.now() / 1000);
      const r = await runScript(STATE, { ISOLLM_LIMIT_PATTERNS: patterns, TZ: 'UTC' }, ['limit-check', file]);
      return { limited: r.code === 0, in: r.stdout.trim() ? Number(r.stdout.trim()) - before : null };
    };
    const around = (seconds: number) => expect.toSatisfy((n: number) => Math.abs(n - seconds) <= 2);
    expect(await check('claude', 'Claude AI usage limit reached|1767261600')).toEqual({ limited: true, in: around(1767261600 - Math.floor(Date.now() / 1000)) });
    expect(await check('codex', "■ You've hit your usage limit. Upgrade to Pro, or try again in 2 hours 5 minutes.")).toEqual({ limited: true, in: around(7500) });
    expect(await check('gemini', 'Error: [429] RESOURCE_EXHAUSTED. Please retry in 37.8s.')).toEqual({ limited: true, in: around(38) });
    expect(await check('codex', '{"error":{"type":"usage_limit_reached","resets_in_seconds":120}}')).toEqual({ limited: true, in: around(120) });
    expect(await check('custom', 'rate limit: resets_at: "2099-01-01T00:00:00Z"')).toEqual({ limited: true, in: around(4070908800 - Math.floor(Date.now() / 1000)) });
    // A time of day is the next time it comes round, in the zone the CLI names.
    const tod = await check('claude', "You've hit your limit · resets 3pm (Europe/Berlin)");
    expect(tod.limited).toBe(true);
    expect(tod.in).toBeGreaterThan(0);
    expect(tod.in).toBeLessThanOrEqual(86_400);
    expect(new Date((Math.floor(Date.now() / 1000) + tod.in!) * 1000).toLocaleTimeString('en-GB', { timeZone: 'Europe/Berlin' })).toMatch(/^15:00:0[0-2]$/);
    // Limited without a time: the loop backs off. Not a limit at all: exit 1.
    expect(await check('aider', 'litellm.RateLimitError: slow down')).toEqual({ limited: true, in: null });
    expect(await check('claude', 'Error: the tests failed')).toEqual({ limited: false, in: null });
  });
});

describe('isollm-task release --note', () => {
  it('gives the task back with the note in its history', async () => {
    const s = await testServer();
    const api = projectApi(s, 'proj');
    const env = { ISOLLM_QUEUE_PORT: String(s.port), ISOLLM_PROJECT: 'proj', ISOLLM_TASK_STATE: path.join(tmpDir(), 'current'), ISOLLM_AGENT: 'w1' };
    const t = await api.add('one');
    expect((await runScript(TASK, env, ['next'])).code).toBe(0);
    expect(await runScript(TASK, env, ['release', '--note', 'usage limit; resumes 15:00 & "soon"'])).toMatchObject({ code: 0, stdout: `released: ${t.id}\n` });
    expect((await api.call('GET', `/tasks/${t.id}`)).json.status).toBe('open');
    const history = (await api.call('GET', `/tasks/${t.id}/history`)).json;
    expect(history.find((h: { field?: string }) => h.field === 'note')).toMatchObject({ new_value: 'usage limit; resumes 15:00 & "soon"', changed_by: 'w1' });
    expect((await runScript(TASK, env, ['release', 'a', 'b'])).code).toBe(2);
  });
});
