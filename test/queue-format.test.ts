import { describe, expect, it } from 'vitest';
import { claimerName, parsePriority, priorityName, taskAge } from '../lib/queue/format.ts';
import type { Task } from '../lib/queue/types.ts';

describe('task formatting', () => {
  it('maps priority names and numbers both ways', () => {
    expect(['critical', 'high', 'normal', 'low', 'lowest', 'HIGH', '3'].map((p) => parsePriority(p))).toEqual([0, 1, 2, 3, 4, 1, 3]);
    expect(() => parsePriority('urgent')).toThrow(/critical\|high\|normal\|low\|lowest/);
    expect(() => parsePriority('5')).toThrow();
    expect(priorityName(0)).toBe('critical');
  });

  it('shows claimers as worker names and ages from the claim or creation', () => {
    expect(claimerName('worker-2')).toBe('worker-2');
    expect(claimerName('host:alice')).toBe('host');
    expect(claimerName(undefined)).toBe('');
    const base: Task = { id: 'ar-1', title: 't', status: 'in_progress', priority: 2, created_at: '2025-01-01T00:00:00.000Z', updated_at: '2025-01-01T00:00:00.000Z', claimed_at: '2025-01-01T01:00:00.000Z' };
    const now = Date.parse('2025-01-01T01:12:30.000Z');
    expect(taskAge(base, now)).toBe('12m');
    expect(taskAge({ ...base, status: 'open' }, now)).toBe('1h');
  });
});

describe('logTail', () => {
  it('returns the last lines, reading only the end of a large log', async () => {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const { logTail } = await import('../lib/queue/daemon.ts');
    const { tmpDir } = await import('./helpers.ts');
    const file = path.join(tmpDir(), 'queue.log');
    const lines = Array.from({ length: 50_000 }, (_, i) => `line ${i} ${'x'.repeat(20)}`);
    fs.writeFileSync(file, lines.join('\n') + '\n');
    expect(logTail(file, 3).split('\n')).toEqual(lines.slice(-3));
    expect(logTail(path.join(file, 'missing'), 3)).toBe('');
  });
});
