// Zellij layout templates: a KDL v1 file (templates/zellij-layout.kdl, or the user's own through
// `multiplexer.template`) with two placeholder nodes isollm replaces with real nodes. Read and checked
// here, before anything starts: a problem is one `FILE:LINE: what is wrong` line. The rules of what a
// pane may carry come from shared/zellij.md (read from zellij's kdl_layout_parser.rs).
import fs from 'node:fs';
import path from 'node:path';
import { parse, type Node, type Value } from 'kdljs';
import { UserError } from '../cli/errors.ts';
import { TEMPLATES_DIR } from '../cli/package-files.ts';
import { nodeLines } from './kdl-lines.ts';

export const WORKERS_NODE = 'isollm-workers';
export const DASHBOARD_NODE = 'isollm-dashboard';
export const DEFAULT_ZELLIJ_TEMPLATE = path.join(TEMPLATES_DIR, 'zellij-layout.kdl');

/** What a pane node may carry, as a property or a child node; anything else zellij rejects. */
export const PANE_KEYS = new Set(['borderless', 'focus', 'name', 'size', 'plugin', 'command', 'edit', 'cwd', 'args', 'close_on_exit', 'start_suspended', 'split_direction', 'pane', 'children', 'stacked', 'expanded', 'exclude_from_sync', 'contents_file', 'default_fg', 'default_bg']);
const BOOLEAN_KEYS = new Set(['borderless', 'focus', 'close_on_exit', 'start_suspended', 'stacked', 'expanded', 'exclude_from_sync']);
const STRING_KEYS = new Set(['name', 'command', 'edit', 'cwd', 'contents_file', 'default_fg', 'default_bg']);
const TAB_KEYS = new Set(['name', 'focus', 'cwd', 'split_direction', 'hide_floating_panes']);
/** Nodes zellij takes at the top of a layout. The templates and swap layouts isollm passes through unchecked. */
export const PASSED_THROUGH = new Set(['default_tab_template', 'new_tab_template', 'tab_template', 'swap_tiled_layout', 'swap_floating_layout', 'floating_panes', 'cwd']);
const PLACEHOLDER_KEYS: Record<string, Set<string>> = { [WORKERS_NODE]: new Set(['size']), [DASHBOARD_NODE]: new Set(['size', 'borderless']) };

export type ZellijTemplate = {
  file: string;
  /** The `layout` node, placeholders still in it. */
  layout: Node;
};

/** Read and check a template file; a file that cannot be read is named with the key that points at it. */
export function readZellijTemplate(file: string): ZellijTemplate {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`multiplexer.template: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}). Fix the path in isollm.yaml, or remove the key to use isollm's own layout.`);
  }
  return parseZellijTemplate(text, file);
}

/** Parse and check a template's text; throws a UserError `FILE:LINE: what is wrong`. */
export function parseZellijTemplate(text: string, file: string): ZellijTemplate {
  const result = parse(text);
  if (result.errors.length || !result.output) throw notKdlV1(text, file, result.errors[0]?.token);
  const doc = result.output;
  const lines = nodeLines(doc, text);
  const fail = (node: Node | undefined, message: string): never => {
    throw new UserError(`${file}:${node ? (lines.get(node) ?? 1) : 1}: ${message}`);
  };

  if (doc.length !== 1 || doc[0].name !== 'layout') fail(doc.find((n) => n.name !== 'layout') ?? doc[1], `a layout file holds one \`layout { … }\` node${doc.length ? `, not ${doc.map((n) => `"${n.name}"`).join(', ')}` : ''}`);
  const layout = doc[0];
  if (layout.values.length || Object.keys(layout.properties).length) fail(layout, '`layout` takes no arguments or properties');
  const found: Record<string, Node[]> = { [WORKERS_NODE]: [], [DASHBOARD_NODE]: [] };

  const checkPlaceholder = (node: Node) => {
    found[node.name].push(node);
    if (node.values.length || node.children.length) fail(node, `${node.name} takes no arguments or children`);
    for (const key of Object.keys(node.properties)) if (!PLACEHOLDER_KEYS[node.name].has(key)) fail(node, `${node.name} takes only ${[...PLACEHOLDER_KEYS[node.name]].join(', ')}, not "${key}"`);
    checkValues(node);
  };
  const checkValues = (node: Node) => {
    for (const [key, value] of Object.entries(node.properties)) {
      const wrong = valueProblem(key, value);
      if (wrong) fail(node, `${node.name} ${key}=${JSON.stringify(value)}: ${wrong}`);
    }
  };
  const checkPane = (pane: Node) => {
    if (pane.values.length) fail(pane, 'a pane takes properties (name=…), not arguments');
    for (const key of Object.keys(pane.properties)) if (!PANE_KEYS.has(key)) fail(pane, `unknown pane property "${key}" (zellij's are: ${[...PANE_KEYS].join(', ')})`);
    checkValues(pane);
    for (const child of pane.children) {
      if (child.name in PLACEHOLDER_KEYS) checkPlaceholder(child);
      else if (child.name === 'pane') checkPane(child);
      else if (!PANE_KEYS.has(child.name)) fail(child, `unknown node "${child.name}" in a pane (zellij takes: ${[...PANE_KEYS].join(', ')})`);
    }
  };
  const checkTab = (tab: Node) => {
    if (tab.values.length) fail(tab, 'a tab takes properties (name=…), not arguments');
    for (const key of Object.keys(tab.properties)) if (!TAB_KEYS.has(key)) fail(tab, `unknown tab property "${key}" (zellij's are: ${[...TAB_KEYS].join(', ')})`);
    for (const child of tab.children) {
      if (child.name in PLACEHOLDER_KEYS) checkPlaceholder(child);
      else if (child.name === 'pane') checkPane(child);
      else if (child.name !== 'floating_panes') fail(child, `unknown node "${child.name}" in a tab (zellij takes: pane, floating_panes)`);
    }
  };

  const tabs = layout.children.filter((n) => n.name === 'tab');
  for (const child of layout.children) {
    if (child.name in PLACEHOLDER_KEYS) checkPlaceholder(child);
    else if (child.name === 'pane') checkPane(child);
    else if (child.name === 'tab') checkTab(child);
    else if (!PASSED_THROUGH.has(child.name)) fail(child, `unknown node "${child.name}" in the layout (zellij takes: pane, tab, ${[...PASSED_THROUGH].join(', ')})`);
    if (tabs.length && (child.name === 'pane' || child.name in PLACEHOLDER_KEYS)) fail(child, `"${child.name}" beside \`tab\` nodes: zellij takes either tabs or panes at the top of a layout; put it in a tab`);
  }
  const workers = found[WORKERS_NODE];
  if (workers.length === 0) fail(layout, `no ${WORKERS_NODE} node: put one where the worker panes go, in a pane or a tab (see ${DEFAULT_ZELLIJ_TEMPLATE})`);
  if (workers.length > 1) fail(workers[1], `a second ${WORKERS_NODE} node: the layout takes one (isollm repeats its tab for more workers)`);
  if (found[DASHBOARD_NODE].length > 1) fail(found[DASHBOARD_NODE][1], `a second ${DASHBOARD_NODE} node: the layout takes at most one`);
  return { file, layout };
}

/** What is wrong with a pane property's value, or undefined. */
function valueProblem(key: string, value: Value): string | undefined {
  if (BOOLEAN_KEYS.has(key) && typeof value !== 'boolean') return 'must be true or false';
  if (STRING_KEYS.has(key) && typeof value !== 'string') return 'must be a string';
  if (key === 'size' && !(typeof value === 'number' ? Number.isInteger(value) && value > 0 : typeof value === 'string' && /^\d{1,3}%$/.test(value))) return 'must be a number of rows or columns, or a percentage like "50%"';
  if (key === 'split_direction' && value !== 'vertical' && value !== 'horizontal') return 'must be "vertical" (side by side) or "horizontal" (stacked)';
  return undefined;
}

type ErrorToken = { startLine?: number; image?: string };

function notKdlV1(text: string, file: string, token: ErrorToken | undefined): UserError {
  const all = text.split(/\r?\n/);
  const line = token?.startLine && Number.isFinite(token.startLine) ? token.startLine : all.length;
  const v2 = /#(true|false|null|inf|-inf|nan)\b|#+"|"""/.test(all[line - 1] ?? '') || /#(true|false|null)\b/.test(text);
  const near = token?.image ? ` near "${token.image}"` : ' at the end of the file (an unclosed `{`?)';
  const why = v2 ? ' — this is KDL v2 syntax: write true/false/null without #, and r"…" raw strings' : '';
  return new UserError(`${file}:${line}: not a KDL v1 layout${near} (zellij reads KDL v1 only)${why}`);
}
