// How the CLI shows tasks: priority names, claimers, ages, list rows and the detail view.
import { UsageError } from '../cli/errors.ts';
import { c, formatAge, table } from '../cli/ui.ts';
import { PRIORITY_NAMES, type AgentResult, type AuditEntry, type Dependency, type Task } from './types.ts';

/** `critical|high|normal|low|lowest` or 0..4 → 0..4. */
export function parsePriority(value: string, flag = '--priority'): number {
  const byName = PRIORITY_NAMES.indexOf(value.toLowerCase() as (typeof PRIORITY_NAMES)[number]);
  if (byName !== -1) return byName;
  if (/^[0-4]$/.test(value)) return Number(value);
  throw new UsageError(`${flag} must be one of ${PRIORITY_NAMES.join('|')} (or 0-4), got "${value}"`);
}

export function priorityName(p: number): string {
  return PRIORITY_NAMES[p] ?? String(p);
}

/** A worker's claim shows as its name; isollm's own host identity `host:<user>` as `host`. */
export function claimerName(claimedBy: string | undefined): string {
  if (!claimedBy) return '';
  return claimedBy.startsWith('host:') ? 'host' : claimedBy;
}

/** In progress: time since claimed; otherwise since created. */
export function taskAge(task: Task, now = Date.now()): string {
  const since = Date.parse(task.status === 'in_progress' && task.claimed_at ? task.claimed_at : task.created_at);
  return formatAge(now - since);
}

const STATUS_STYLE: Record<string, (s: string) => string> = {
  open: (s) => s,
  in_progress: c.cyan,
  blocked: c.yellow,
  done: c.dim,
};

export function statusText(status: string): string {
  return (STATUS_STYLE[status] ?? ((s: string) => s))(status.replace('_', ' '));
}

export function taskRows(tasks: Task[], now = Date.now()): string[] {
  const rows = [['ID', 'PRIORITY', 'STATUS', 'WORKER', 'AGE', 'TITLE'].map((h) => c.dim(h))];
  for (const t of tasks) {
    const title = t.status === 'blocked' && t.block_reason ? `${t.title} ${c.dim(`(${t.block_reason})`)}` : t.title;
    rows.push([t.id, priorityName(t.priority), statusText(t.status), claimerName(t.claimed_by), taskAge(t, now), title]);
  }
  return table(rows);
}

/** What the agent CLI reported about a run; fields it did not report are not shown. */
export function agentRunLines(r: AgentResult): string[] {
  const lines: string[] = [];
  const field = (k: string, v: string | undefined) => v !== undefined && lines.push(`  ${c.dim(k.padEnd(10))} ${v}`);
  field('worker', `${r.worker}${r.format ? ` (${r.format})` : ''}, at ${r.recorded_at}`);
  field('exit', String(r.exit_status));
  field('duration', `${(r.duration_ms / 1000).toFixed(1)} s`);
  field('turns', r.turns?.toString());
  field('tokens', r.tokens_in !== undefined || r.tokens_out !== undefined ? `${r.tokens_in ?? '?'} in, ${r.tokens_out ?? '?'} out` : undefined);
  field('cost', r.cost_usd !== undefined ? `$${r.cost_usd.toFixed(4)}` : undefined);
  if (r.last_message) {
    const [first, ...more] = r.last_message.split('\n');
    field('said', first);
    for (const l of more) lines.push(`  ${' '.repeat(10)} ${l}`);
  }
  return lines;
}

export type TaskDetail = { task: Task; deps: (Dependency & { task?: Task })[]; dependents: (Dependency & { task?: Task })[]; history: AuditEntry[] };

export function detailLines(d: TaskDetail, now = Date.now()): string[] {
  const t = d.task;
  const lines = [`${c.bold(t.id)}  ${t.title}`, ''];
  const field = (k: string, v: string | undefined) => v && lines.push(`  ${c.dim(k.padEnd(10))} ${v}`);
  field('status', statusText(t.status));
  field('priority', `${priorityName(t.priority)} (${t.priority})`);
  field('worker', t.claimed_by ? `${claimerName(t.claimed_by)} (claimed ${taskAge(t, now)} ago)` : undefined);
  field('blocked', t.block_reason);
  field('parent', t.parent_id);
  field('based on', t.based_on);
  field('landed', t.landed_commit ? `${t.landed_commit.slice(0, 12)} at ${t.landed_at}` : undefined);
  field('landing', t.land_attempts ? `${t.land_attempts} failed attempt(s)` : undefined);
  field('created', t.created_at);
  field('updated', t.updated_at);
  if (t.description) lines.push('', ...t.description.split('\n').map((l) => `  ${l}`));
  if (t.land_failure) lines.push('', c.bold('Last landing failure'), ...t.land_failure.split('\n').map((l) => `  ${l}`));
  if (t.result) lines.push('', c.bold('Last agent run'), ...agentRunLines(t.result));
  const related = (title: string, items: TaskDetail['deps'], key: 'parent_id' | 'child_id') => {
    if (!items.length) return;
    lines.push('', c.bold(title));
    for (const dep of items) lines.push(`  ${dep[key]}  ${dep.task ? `${statusText(dep.task.status)}  ${dep.task.title}` : ''}`.trimEnd());
  };
  related('Waits on', d.deps, 'parent_id');
  related('Needed by', d.dependents, 'child_id');
  if (d.history.length) {
    lines.push('', c.bold('History'));
    for (const e of d.history) {
      const change = e.field === 'status' ? `${e.old_value ?? ''} → ${e.new_value ?? ''}` : [e.field, e.old_value !== undefined ? `${e.old_value} →` : '', e.new_value].filter(Boolean).join(' ');
      lines.push(`  ${c.dim(e.changed_at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))}  ${claimerName(e.changed_by).padEnd(10)} ${e.action.padEnd(17)} ${change}`.trimEnd());
    }
  }
  return lines;
}
