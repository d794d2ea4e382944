// The line each node of a kdljs document starts on. kdljs 0.2.0 returns nodes without positions, so
// this walks the same lexer's tokens (text kdljs has already parsed without error): a node starts at
// the first value-like token after a newline, `;`, `{` or `}`; nodes commented out with `/-` (and
// everything inside them) are skipped, as kdljs skips them. Lines come back in document order.
import { createRequire } from 'node:module';
import type { Document, Node } from 'kdljs';

type Token = { tokenType: { name: string }; startLine?: number };
const { lexer } = createRequire(import.meta.url)('kdljs/src/parser/kdl.js') as { lexer: { tokenize(text: string): { tokens: Token[] } } };

const SPACE = new Set(['WhiteSpace', 'BOM', 'LineComment']);

/** Start lines of the nodes of `text`, in document order (depth first). */
export function nodeStartLines(text: string): number[] {
  const lines: number[] = [];
  let atStart = true;
  let escaped = false; // `\` continues a node on the next line
  let comment = 0; // depth of /* */ comments
  let dropNext = false; // `/-` before a node
  let dropBraces = false; // `/-` before a children block
  let dropped = false; // the current node was commented out
  const blocks: boolean[] = []; // per open `{`: inside a commented-out node
  for (const t of lexer.tokenize(text).tokens) {
    const type = t.tokenType.name;
    if (type === 'OpenMultiLineComment') comment++;
    else if (type === 'CloseMultiLineComment') comment--;
    if (comment > 0 || type === 'CloseMultiLineComment' || SPACE.has(type)) continue;
    switch (type) {
      case 'EscLine':
        escaped = true;
        break;
      case 'NewLine':
        if (escaped) escaped = false;
        else atStart = true;
        break;
      case 'SemiColon':
        atStart = true;
        break;
      case 'BlockComment':
        if (atStart) dropNext = true;
        else dropBraces = true;
        break;
      case 'LeftBrace':
        blocks.push(dropped || dropBraces);
        dropBraces = false;
        atStart = true;
        break;
      case 'RightBrace':
        blocks.pop();
        atStart = true;
        break;
      default:
        if (atStart) {
          dropped = dropNext || (blocks.at(-1) ?? false);
          dropNext = false;
          if (!dropped) lines.push(t.startLine ?? 1);
          atStart = false;
        } else {
          dropBraces = false; // the `/-` was for a value or property
        }
    }
  }
  return lines;
}

/** Each node of `doc` (parsed from `text`) with its line; a node the walk could not place gets line 1. */
export function nodeLines(doc: Document, text: string): Map<Node, number> {
  const starts = nodeStartLines(text);
  const map = new Map<Node, number>();
  let i = 0;
  const walk = (nodes: Document) => {
    for (const n of nodes) {
      map.set(n, starts[i++] ?? 1);
      walk(n.children);
    }
  };
  walk(doc);
  return map;
}
