// isollm extension: `Accept: text/plain` answers in `key: value` lines, so a POSIX sh client
// (the worker helper) needs no JSON parser.
import { truncateMessage } from '../agent/results.ts';
import { resultLine } from './results.ts';
import type { Task } from './types.ts';

const oneLine = (v: unknown) => String(v).replace(/\s*[\r\n]+\s*/g, ' ');

/**
 * A task as `key: value` lines; `description` comes last and keeps its newlines (everything after
 * `description: ` to the end is the description).
 */
export function taskText(task: Task): string {
  const lines: string[] = [];
  for (const key of ['id', 'title', 'status', 'priority', 'claimed_by', 'claimed_at', 'block_reason', 'parent_id', 'based_on', 'start_commit', 'landed_commit', 'landed_at', 'land_attempts', 'created_at', 'updated_at'] as const) {
    if (task[key] !== undefined) lines.push(`${key}: ${oneLine(task[key])}`);
  }
  if (task.result) lines.push(`result: ${resultLine(task.result)}`);
  // The agent's last words, on one line and short (the loop logs them after each run).
  if (task.result?.last_message) lines.push(`result_message: ${truncateMessage(oneLine(task.result.last_message), 300)}`);
  // A failed landing is work for the next agent: sh clients read only the description, so it goes
  // there (after the task's own text), newlines kept.
  const failure = task.land_failure === undefined ? undefined : `Landing this task failed; fix it on this branch:\n${task.land_failure}`;
  const description = [task.description, failure].filter((s) => s !== undefined).join('\n\n');
  if (task.description !== undefined || failure !== undefined) lines.push(`description: ${description}`);
  return lines.join('\n') + '\n';
}

const isTask = (v: unknown): v is Task => typeof v === 'object' && v !== null && 'id' in v && 'status' in v && 'title' in v;

/** Tab-separated lines for lists of tasks; other values as JSON. */
export function renderText(body: unknown): string {
  if (isTask(body)) return taskText(body);
  // A transcript: how many lines it used, then the text as it is.
  const t = body as { consumed_lines?: unknown; transcript?: unknown } | null;
  if (t && typeof t.consumed_lines === 'number' && typeof t.transcript === 'string') return `lines: ${t.consumed_lines}\n${t.transcript}`;
  const list = Array.isArray(body) ? body : (body as { data?: unknown })?.data;
  if (Array.isArray(list) && list.every(isTask)) {
    return list.map((t) => [t.id, t.status, t.priority, t.claimed_by ?? '-', oneLine(t.title)].join('\t') + '\n').join('');
  }
  return JSON.stringify(body) + '\n';
}

export function errorText(code: string, message: string): string {
  return `error: ${code}: ${message}\n`;
}
