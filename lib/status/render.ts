// Text renderings of the status model: the full dashboard and the one-line brief. Pure functions of
// the model (and the width / colour choice), so tests compare exact strings.
import { styleText } from 'node:util';
import type { StatusModel, SyncSummary, WorkerStatus } from './collect.ts';
import { formatAge, SYMBOLS, table } from '../cli/ui.ts';
import { agentCell, agentCounts, recoveredWords } from './agent-view.ts';

export type RenderOptions = {
  /** Terminal columns: every line is cut to fit (with …). Infinity for no limit. */
  width: number;
  color: boolean;
  /** Show the time of the model in the header (watch mode). */
  clock?: boolean;
  /**
   * Terminal rows (Infinity or unset: no limit). With fewer rows than the full view needs, the view
   * becomes a one-line summary over the workers table, and with fewer rows than workers, the table
   * keeps the busiest ones: a table is never cut off at the bottom.
   */
  rows?: number;
};

type Style = Parameters<typeof styleText>[0];
type Paint = (style: Style, s: string) => string;

function painter(color: boolean): Paint {
  return color ? (style, s) => styleText(style, s, { validateStream: false }) : (_style, s) => s;
}

const ANSI = /\x1b\[[0-9;]*m/y;

/** Cut `line` to `width` visible characters (ANSI colour codes do not count), ending in … when cut. */
export function fitLine(line: string, width: number): string {
  if (!Number.isFinite(width) || width <= 0) return line;
  let out = '';
  let visible = 0;
  let coloured = false;
  for (let i = 0; i < line.length; ) {
    ANSI.lastIndex = i;
    const m = ANSI.exec(line);
    if (m) {
      out += m[0];
      coloured = true;
      i += m[0].length;
      continue;
    }
    const ch = String.fromCodePoint(line.codePointAt(i)!);
    if (visible === width - 1 && visibleLength(line.slice(i)) > 1) return out + '…' + (coloured ? '\x1b[0m' : '');
    out += ch;
    visible++;
    i += ch.length;
  }
  return out;
}

function visibleLength(s: string): number {
  return [...s.replace(/\x1b\[[0-9;]*m/g, '')].length;
}

function stateMark(w: WorkerStatus, paint: Paint): string {
  switch (w.state) {
    case 'running':
      return paint('green', `${SYMBOLS.running} running`);
    case 'error':
      return paint('red', `${SYMBOLS.stopped} error`);
    case 'absent':
      return paint('dim', `${SYMBOLS.stopped} no container`);
    default:
      return paint(w.state === 'frozen' ? 'yellow' : 'dim', `${SYMBOLS.stopped} ${w.state}`);
  }
}

/** Workers with a container that are running, out of those with a container. */
function runningCount(m: StatusModel): { running: number; total: number } | null {
  if (!m.workers) return null;
  const mine = m.workers.filter((w) => w.state !== 'absent');
  return { running: mine.filter((w) => w.state === 'running').length, total: mine.length };
}

function syncWords(s: SyncSummary): string {
  if (!s.present) return 'no hub yet';
  if (s.ahead === null || s.behind === null) return `base ${s.base_branch} not in the hub`;
  if (s.ahead === 0 && s.behind === 0) return 'base up to date';
  return `base ${[s.ahead ? `${s.ahead} ahead` : '', s.behind ? `${s.behind} behind` : ''].filter(Boolean).join(', ')}`;
}

/** `demo: 3/3 workers running · tasks 2 ready, 3 in progress, 1 blocked, 7 done · hub: base up to date` */
export function renderBrief(m: StatusModel): string {
  const n = runningCount(m);
  const agents = agentCounts(m);
  const members = memberWords(m.workers);
  const workers = (!n ? 'workers unknown' : n.total === 0 ? 'no workers' : `${n.running}/${n.total} workers running`) + (members ? ` on ${members}` : '') + (agents ? ` (agents ${agents})` : '');
  const t = m.tasks;
  const tasks = t ? `tasks ${t.ready} ready, ${t.in_progress} in progress, ${t.blocked} blocked, ${t.done} done` : 'queue not answering';
  const hub = m.sync ? `hub: ${syncWords(m.sync)}` : 'hub: unknown';
  return `${m.project}: ${workers} · ${tasks} · ${hub}`;
}

/** The cluster members workers are on: `m1` when all on one, `m1 (2), m2 (1)` when spread; null off a cluster. */
export function memberWords(workers: WorkerStatus[] | null): string | null {
  const counts = new Map<string, number>();
  for (const w of workers ?? []) if (w.location) counts.set(w.location, (counts.get(w.location) ?? 0) + 1);
  if (counts.size === 0) return null;
  if (counts.size === 1) return [...counts.keys()][0];
  return [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([member, n]) => `${member} (${n})`).join(', ');
}

const LABEL = 10;
const label = (paint: Paint, s: string) => paint('bold', s.padEnd(LABEL));
const indent = ' '.repeat(LABEL);

/** Lines of the full view for `workers` workers: header, blank, table head, one per worker, blank, Tasks, Hub, 3 services, the base. */
export function fullViewLines(workers: number): number {
  return workers + 10;
}

function headLine(m: StatusModel, options: RenderOptions, paint: Paint, extra: string[] = []): string {
  const n = runningCount(m);
  const agents = agentCounts(m);
  const head = [paint('bold', `isollm · ${m.project}`), n ? `${n.running}/${n.total} workers running` : 'workers unknown', ...(agents ? [`agents ${agents}`] : []), ...extra];
  if (options.clock) head.push(paint('dim', `updated ${clockTime(m.generated_at)}`));
  return head.join(' · ');
}

/** The workers table (head row first) for the given workers. */
function workerTable(workers: WorkerStatus[], paint: Paint): string[] {
  // The AGENT column only once some agent has reported its state.
  const agentColumn = workers.some((w) => w.agent);
  // The MEMBER column only for workers on a cluster (runtime.remote naming one).
  const memberColumn = workers.some((w) => w.location);
  const rows = [['WORKER', 'STATE', ...(memberColumn ? ['MEMBER'] : []), ...(agentColumn ? ['AGENT'] : []), 'TASK', 'BRANCH', 'TIME', 'TITLE'].map((h) => paint('dim', h))];
  for (const w of workers) {
    const t = w.task;
    rows.push([w.name, stateMark(w, paint), ...(memberColumn ? [w.location ?? ''] : []), ...(agentColumn ? [agentCell(w, paint)] : []), t?.id ?? '-', t?.branch ?? '', t?.age_seconds == null ? '' : formatAge(t.age_seconds * 1000), t ? t.title : w.state === 'running' ? paint('dim', 'idle') : '']);
  }
  return table(rows);
}

/** Busiest first: waiting for you, on a task (longest at it first), then in error, running idle, stopped, no container. */
function busyRank(w: WorkerStatus): number {
  if (w.agent?.state === 'waiting') return -1; // it needs you: always shown
  if (w.task) return 0;
  if (w.state === 'error') return 1;
  if (w.state === 'running') return 2;
  return w.state === 'absent' ? 4 : 3;
}

/** The `count` busiest workers, in their usual order (so rows do not jump around between frames). */
export function busiestWorkers(workers: WorkerStatus[], count: number): WorkerStatus[] {
  const ranked = workers
    .map((w, i) => ({ w, i }))
    .sort((a, b) => busyRank(a.w) - busyRank(b.w) || (b.w.task?.age_seconds ?? 0) - (a.w.task?.age_seconds ?? 0) || a.i - b.i);
  const keep = new Set(ranked.slice(0, Math.max(0, count)).map((r) => r.i));
  return workers.filter((_, i) => keep.has(i));
}

/** The dashboard: header, workers table, task counts, sync, services — or the compact view when `rows` is short. */
export function renderFull(m: StatusModel, options: RenderOptions): string[] {
  const rows = options.rows ?? Infinity;
  const full = fullView(m, options);
  const lines = full.length <= rows ? full : compactView(m, options, Math.max(1, Math.floor(rows)));
  return lines.map((line) => fitLine(line, options.width));
}

/**
 * For a short pane: the summary in one line, then the workers table with as many workers as fit, the
 * busiest (the head line says how many are shown). With two rows the table loses its head row; with
 * one only the summary is left.
 */
function compactView(m: StatusModel, options: RenderOptions, rows: number): string[] {
  const paint = painter(options.color);
  const t = m.tasks;
  const tasks = t ? `tasks ${t.ready} ready, ${t.in_progress} in progress, ${t.blocked} blocked, ${t.done} done` : paint('red', 'queue not answering');
  const hub = `hub: ${m.sync ? syncWords(m.sync) : 'unknown'}`;
  const workers = m.workers ?? [];
  const room = rows >= 3 ? rows - 2 : rows - 1; // rows for worker lines: below the summary and the table head
  const shown = workers.length <= room ? workers : busiestWorkers(workers, room);
  const note = shown.length < workers.length ? [`${shown.length} busiest shown`] : [];
  const lines = [headLine(m, options, paint, [...note, tasks, hub])];
  if (shown.length) {
    const tableLines = workerTable(shown, paint);
    lines.push(...(rows >= 3 ? tableLines : tableLines.slice(1)));
  } else if (m.errors.workers && rows >= 2) {
    lines.push(`${paint('red', SYMBOLS.fail)} workers: ${m.errors.workers}`);
  }
  return lines.slice(0, rows);
}

function fullView(m: StatusModel, options: RenderOptions): string[] {
  const paint = painter(options.color);
  const bad = (s: string) => `${paint('red', SYMBOLS.fail)} ${s}`;
  const lines: string[] = [headLine(m, options, paint), ''];

  if (m.workers && m.workers.length) {
    lines.push(...workerTable(m.workers, paint));
  } else if (m.workers) {
    lines.push('No workers. Start them with `isollm up`.');
  }
  if (m.errors.workers) lines.push(bad(`workers: ${m.errors.workers}`));
  // In the blank line under the table, so the dashboard keeps its height.
  lines.push(m.recovered ? paint('dim', `recovered ${clockTime(m.recovered.at).slice(0, 5)}: ${m.recovered.workers.map(recoveredWords).join('; ')}`) : '');

  const t = m.tasks;
  lines.push(
    label(paint, 'Tasks') +
      (t
        ? `${t.ready} ready · ${t.in_progress} in progress · ${t.blocked} blocked · ${t.done} done ${paint('dim', `(${t.open} open, ${t.total} total)`)}${trainWords(m.land, paint)}${usageWords(m.usage)}`
        : bad(m.errors.queue ?? 'the queue did not answer')),
  );

  const s = m.sync;
  let sync: string;
  if (!s) sync = bad(m.errors.sync ?? 'git failed');
  else if (!s.present) sync = `no hub yet at ${s.hub}: \`isollm sync push\` or \`isollm up\` creates it`;
  else {
    const words = syncWords(s);
    const hint = s.ahead ? ` (\`isollm sync push\`)` : s.behind ? ` (\`git pull ${s.hub} ${s.base_branch}\`)` : '';
    sync = `${words.replace(/^base/, `base ${s.base_branch}`)}${hint} · ${s.task_branches} task branch${s.task_branches === 1 ? '' : 'es'}${s.task_branches ? ' (`isollm sync status`)' : ''}`;
  }
  lines.push(label(paint, 'Hub') + sync);

  const { queue, multiplexer: mux, runtime } = m.services;
  const on = (up: boolean) => (up ? paint('green', SYMBOLS.running) : paint('dim', SYMBOLS.stopped));
  const services: [string, string][] = [
    ['queue', `${on(queue.running)} ${queue.url}${queue.pid ? ` (pid ${queue.pid})` : ''}${queue.mode === 'external' ? ' (queue.url)' : ''}${queue.running ? '' : paint('dim', ' not answering')}`],
    [
      'multiplexer',
      m.errors.multiplexer
        ? bad(m.errors.multiplexer)
        : mux.session && mux.kind
          ? `${on(mux.running)} ${mux.kind} session ${mux.session}${mux.running ? '' : paint('dim', ' not running')}`
          : `${on(false)} no session (\`isollm up\` starts one)`,
    ],
    ['runtime', runtime.kind ? `${runtime.kind} (${runtime.bin})${runtime.remote ? ` on remote ${runtime.remote}` : ''}` : paint('dim', 'not available')],
    ['base', m.errors.base ? bad(m.errors.base) : baseWords(m.base, paint)],
  ];
  table(services.map(([k, v]) => [k, v])).forEach((line, i) => lines.push((i === 0 ? label(paint, 'Services') : indent) + line));
  return lines;
}

/**
 * The project's base in one line: `demo-base-1a2b3c · image 28e1e06d3195 · 2h old · 412 MB · 3 workers
 * · hub 4 commits ahead`, and `stale (setup_script changed): the next \`isollm up\` rebuilds it`.
 */
export function baseWords(b: StatusModel['base'], paint: Paint): string {
  if (!b) return paint('dim', 'none yet (the first `isollm up` or `worker add` builds it)');
  const parts = [b.name, `image ${b.image}`];
  if (b.age_seconds !== null) parts.push(`${formatAge(b.age_seconds * 1000)} old`);
  if (b.size_bytes !== null) parts.push(formatSize(b.size_bytes));
  parts.push(`${b.workers} worker${b.workers === 1 ? '' : 's'}${b.older_bases.length ? ` (+${b.older_bases.length} older base${b.older_bases.length === 1 ? '' : 's'} kept for theirs)` : ''}`);
  if (b.commits_behind) parts.push(`hub ${b.commits_behind} commit${b.commits_behind === 1 ? '' : 's'} ahead`);
  if (b.building) parts.push(paint('yellow', 'a new one is being built'));
  else if (b.stale) parts.push(paint('yellow', `stale (${b.changed.join(', ') || 'its inputs'} changed): the next \`isollm up\` rebuilds it`));
  else parts.push('up to date');
  return parts.join(' · ');
}

function formatSize(bytes: number): string {
  const mib = bytes / 1024 / 1024;
  return mib >= 1024 ? `${(mib / 1024).toFixed(1)} GB` : `${Math.round(mib)} MB`;
}

/** The merge train on the Tasks line (the dashboard's height is fixed): ` · land: 2 to go, 5 landed in 24 h, 1 handed back, ● testing ar-1a2b`. */
function trainWords(l: StatusModel['land'], paint: Paint): string {
  if (!l || !(l.unlanded || l.landed_24h || l.handed_back || l.landing_now || l.now)) return '';
  const step = l.now ? `${l.now.step} ${l.now.tasks.join(', ')}` : 'landing now';
  const now = l.landing_now || l.now ? `, ${paint('green', SYMBOLS.running)} ${step}` : '';
  return ` · land: ${l.unlanded} to go, ${l.landed_24h} landed in 24 h, ${l.handed_back} handed back${now}`;
}

/**
 * The agents' recorded runs on the Tasks line: ` · agents: 3 runs, 2468 tokens in, 112 out, $0.0121`.
 * Tokens only when some run reported them (custom and aider agents report none: not "0 tokens").
 */
function usageWords(u: StatusModel['usage']): string {
  if (!u || !u.runs) return '';
  const tokens = u.tokens_in || u.tokens_out ? `, ${u.tokens_in} tokens in, ${u.tokens_out} out` : '';
  const cost = u.cost_usd ? `, $${u.cost_usd.toFixed(4)}` : '';
  return ` · agents: ${u.runs} run${u.runs === 1 ? '' : 's'}${tokens}${cost}`;
}

/** HH:MM:SS of an ISO time, local. */
function clockTime(iso: string): string {
  const d = new Date(iso);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((x) => String(x).padStart(2, '0')).join(':');
}
