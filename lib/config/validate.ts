// Walking a parsed isollm.yaml against the schema: values, problems with their lines, and the
// rules that span keys.
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import { parsePort, suggestKey, type Schema } from './schema.ts';
import type { Config } from './load.ts';

export type ConfigProblem = { line: number; path: string; message: string };

/** Collects values, problems, and the lines of every value for the cross-key rules. */
export class Walk {
  problems: ConfigProblem[] = [];
  explicit = new Set<string>();
  lines = new Map<string, number>();
  doc: Document;
  lineCounter: LineCounter;
  constructor(doc: Document, lineCounter: LineCounter) {
    this.doc = doc;
    this.lineCounter = lineCounter;
  }

  line(node: unknown): number {
    const range = (node as Node | null)?.range;
    return range ? this.lineCounter.linePos(range[0]).line : 1;
  }

  deref(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.doc) : node;
  }

  js(node: unknown): unknown {
    return node && typeof (node as Node).toJS === 'function' ? (node as Node).toJS(this.doc) : node;
  }

  /** `got` (at most one) is the offending value, shown as `(got X)`. */
  problem(node: unknown, keyPath: string, message: string, ...got: unknown[]): void {
    this.problemAt(this.line(node), keyPath, message, ...got);
  }

  problemAt(line: number, keyPath: string, message: string, ...got: unknown[]): void {
    const shown = got.length ? ` (got ${describe(got[0], keyPath)})` : '';
    this.problems.push({ line, path: keyPath, message: message + shown });
  }

  map(map: unknown, schema: Schema, prefix: string, into: Record<string, unknown>): void {
    if (!isMap(map)) return;
    for (const pair of map.items) {
      const keyNode = pair.key;
      const key = isScalar(keyNode) ? String(keyNode.value) : String(this.js(keyNode));
      const keyPath = prefix + key;
      const rule = Object.hasOwn(schema, key) ? schema[key] : undefined;
      if (!rule) {
        const hint = suggestKey(key, Object.keys(schema), prefix);
        this.problem(keyNode, keyPath, `unknown key${hint ? `; did you mean ${hint}?` : ''}`);
        continue;
      }
      const valueNode = this.deref(pair.value);
      const value = this.js(valueNode);
      this.lines.set(keyPath, this.line(valueNode ?? keyNode));
      if (value === null || value === undefined) continue; // an empty key means "use the default"
      if (typeof rule !== 'function') {
        if (!isMap(valueNode)) this.problem(valueNode, keyPath, `must be a mapping of ${Object.keys(rule).join(', ')}`, value);
        else this.map(valueNode, rule, `${keyPath}.`, (into[key] = {}) as Record<string, unknown>);
        continue;
      }
      if (isSeq(valueNode)) valueNode.items.forEach((item, i) => this.lines.set(`${keyPath}[${i}]`, this.line(item)));
      const found = rule(value);
      if (found === undefined) {
        into[key] = value;
        this.explicit.add(keyPath);
      } else if (typeof found === 'string') {
        this.problem(valueNode, keyPath, found, value);
      } else {
        const item = found.index !== undefined && isSeq(valueNode) ? valueNode.items[found.index] : valueNode;
        const itemPath = found.index !== undefined ? `${keyPath}[${found.index}]` : keyPath;
        this.problem(item, itemPath, found.message, found.index !== undefined ? (value as unknown[])[found.index] : value);
      }
    }
  }
}

export function checkAcrossKeys(config: Config, walk: Walk): void {
  const lineOf = (p: string) => walk.lines.get(p) ?? 1;
  if (config.agent.preset === 'custom' && !config.agent.command) {
    walk.problemAt(lineOf('agent.preset'), 'agent.command', 'is required when agent.preset is custom (the command that starts your agent)');
  }
  const seen = new Map<number, number>();
  config.ports.forEach((spec, i) => {
    const port = parsePort(spec);
    if (!port) return;
    const at = lineOf(`ports[${i}]`);
    if (port.host === config.queue.port || port.container === config.queue.port) {
      walk.problemAt(at, `ports[${i}]`, `uses the queue port ${config.queue.port} (queue.port)`, spec);
    }
    const earlier = seen.get(port.host);
    if (earlier !== undefined) walk.problemAt(at, `ports[${i}]`, `forwards host port ${port.host} again (see ports[${earlier}])`, spec);
    else seen.set(port.host, i);
  });
  // A forward is a proxy device listening on the container's host: for a remote worker that is the
  // remote's machine, not this one, so the port would not be where the user looks for it.
  if (config.ports.length && config.runtime.remote && config.runtime.remote !== 'local') {
    walk.problemAt(
      lineOf('ports[0]'),
      'ports',
      `forwards ports of local workers only: with runtime.remote (${config.runtime.remote}) a forward would listen on the remote's machine, not this one; remove ports, or reach the port through the worker (\`isollm worker exec\`) or the remote's own network`,
    );
  }
  config.ports = config.ports.map(String); // `8080` may come as a YAML number
}

function describe(v: unknown, keyPath: string): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(keyPath === 'queue.url' ? redactUrl(v) : v);
  return String(v);
}

/** A URL with any password or token replaced by `***`, for printing. */
export function redactUrl(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return value.replace(/\/\/[^/@]*@/, '//***@');
  }
  if (u.username) u.username = '***';
  if (u.password) u.password = '***';
  for (const key of [...u.searchParams.keys()]) {
    if (/token|key|secret|pass|auth/i.test(key)) u.searchParams.set(key, '***');
  }
  return u.toString().replaceAll('%2A%2A%2A', '***');
}
