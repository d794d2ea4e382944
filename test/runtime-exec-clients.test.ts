import { describe, expect, it } from 'vitest';
import { parseExecClient, parseStat } from '../lib/runtime/exec-clients.ts';
import { isAgentCommand } from '../lib/agent/launch.ts';

describe('exec clients: which host processes they are', () => {
  it('reads the container and the command from an exec client argv, and nothing else as one', () => {
    const pane = ['lxc', 'exec', 'p-worker-1', '--force-interactive', '--user', '1000', '--env', 'A=--', '--', 'isollm-loop'];
    expect(parseExecClient(pane, 'lxc')).toEqual({ ref: 'p-worker-1', command: ['isollm-loop'] });
    expect(parseExecClient(['/usr/bin/incus', 'exec', 'rmt:p-worker-2', '--', 'isollm-agent', 'resume'], 'incus')).toEqual({ ref: 'rmt:p-worker-2', command: ['isollm-agent', 'resume'] });
    expect(parseExecClient(['incus', 'exec', 'p-worker-1', '--', 'true'], 'lxc')).toBeNull();
    expect(parseExecClient(['lxc', 'list', 'p-worker-1'], 'lxc')).toBeNull();
    expect(parseExecClient(['tmux', 'new-session', 'lxc', 'exec', 'p-worker-1', '--', 'isollm-loop'], 'lxc')).toBeNull();
  });

  it("reads the state and process group from /proc/<pid>/stat, whatever the command's name holds", () => {
    expect(parseStat('3457 (lxc) S 1 3457 3457 0 -1 4194304')).toEqual({ state: 'S', pgrp: 3457 });
    expect(parseStat('12 (a) b) c) Z 1 9 9 0 -1')).toEqual({ state: 'Z', pgrp: 9 });
  });

  it("an agent pane's command, not a shell or the detached start", () => {
    expect(isAgentCommand(['isollm-loop'])).toBe(true);
    expect(isAgentCommand(['isollm-agent'])).toBe(true);
    expect(isAgentCommand(['isollm-agent', 'resume'])).toBe(true);
    expect(isAgentCommand(['isollm-agent', 'background', 'isollm-loop'])).toBe(false);
    expect(isAgentCommand(['bash', '-l'])).toBe(false);
    expect(isAgentCommand([])).toBe(false);
  });
});
