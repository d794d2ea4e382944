// Layout templates: the default file, a user's own (extra pane, a tab of its own), and the bad ones,
// each refused with one `FILE:LINE: …` line.
import fs from 'node:fs';
import path from 'node:path';
import { parse, type Node } from 'kdljs';
import { describe, expect, test } from 'vitest';
import { UserError } from '../lib/cli/errors.ts';
import { nodeStartLines } from '../lib/mux/kdl-lines.ts';
import { resolveDashboardSize } from '../lib/mux/arrange.ts';
import { pickMultiplexer } from '../lib/mux/pick.ts';
import { fullViewLines } from '../lib/status/render.ts';
import type { MuxPlan } from '../lib/mux/types.ts';
import { formatZellijLayout } from '../lib/mux/zellij-layout.ts';
import { DEFAULT_ZELLIJ_TEMPLATE, parseZellijTemplate, readZellijTemplate, type ZellijTemplate } from '../lib/mux/zellij-template.ts';
import { tmpDir } from './helpers.ts';

function makePlan(n: number): MuxPlan {
  return {
    session: 'isollm-demo',
    cwd: '/home/me/demo',
    layout: 'auto',
    dashboard: { command: ['node', 'isollm.mts', 'status', '--watch'], size: '12' },
    workers: Array.from({ length: n }, (_, i) => ({ name: `worker-${i + 1}`, command: ['lxc', 'exec', `demo-worker-${i + 1}`, '--', 'isollm-agent'] })),
  };
}

const names = (nodes: Node[]) => nodes.map((n) => `${n.name}${n.properties.name ? `:${n.properties.name}` : ''}`);
const commandPanes = (n: Node): Node[] => (n.name === 'pane' && n.properties.command ? [n] : n.children.flatMap(commandPanes));

const USER_TEMPLATE = `// my layout
layout {
    tab name="work" {
        pane split_direction="vertical" {
            isollm-workers size="70%"
            pane name="logs" command="tail" {
                args "-f" "log/dev.log"
            }
        }
        isollm-dashboard size=6
    }
    tab name="monitor" {
        pane command="htop"
        /- pane command="top"
    }
}
`;

describe('the default template', () => {
  test('is KDL v1 with both placeholders', () => {
    const text = fs.readFileSync(DEFAULT_ZELLIJ_TEMPLATE, 'utf8');
    expect(parse(text).errors).toEqual([]);
    expect(text).toMatch(/^\s+isollm-workers$/m);
    expect(text).toMatch(/^\s+isollm-dashboard$/m);
    expect(() => readZellijTemplate(DEFAULT_ZELLIJ_TEMPLATE)).not.toThrow();
  });
});

describe('a user template', () => {
  const template = parseZellijTemplate(USER_TEMPLATE, 'layout.kdl');

  test('the extra pane and the extra tab survive; workers land where the placeholder is', () => {
    const doc = parse(formatZellijLayout(makePlan(3), template)).output!;
    const [work, monitor] = doc[0].children;
    expect(names(doc[0].children)).toEqual(['tab:work', 'tab:monitor']);
    expect(work.properties).toEqual({ name: 'work', focus: true });
    const [split, dashboard] = work.children;
    expect(split.properties).toEqual({ split_direction: 'vertical' });
    const [area, logs] = split.children;
    expect(area.properties.size).toBe('70%'); // the placeholder's size, on the worker area
    expect(commandPanes(area).map((p) => p.properties.name)).toEqual(['worker-1', 'worker-2', 'worker-3']);
    expect(logs.properties).toEqual({ name: 'logs', command: 'tail' });
    expect(logs.children[0].values).toEqual(['-f', 'log/dev.log']);
    expect(dashboard.properties).toMatchObject({ name: 'dashboard', size: 6, command: 'node' }); // the template's size wins
    expect(monitor.children.map((c) => c.properties)).toEqual([{ command: 'htop' }]); // the commented-out pane stays out
  });

  test('8 workers, 6 a tab: the work tab twice (4 + 4), the dashboard on the first, the monitor tab once', () => {
    const doc = parse(formatZellijLayout(makePlan(8), template)).output!;
    expect(names(doc[0].children)).toEqual(['tab:work 1', 'tab:work 2', 'tab:monitor']);
    const [first, second] = doc[0].children;
    expect(commandPanes(first).map((p) => p.properties.name)).toEqual(['worker-1', 'worker-2', 'worker-3', 'worker-4', 'logs', 'dashboard']);
    expect(commandPanes(second).map((p) => p.properties.name)).toEqual(['worker-5', 'worker-6', 'worker-7', 'worker-8', 'logs']);
    expect(second.properties.focus).toBeUndefined();
  });

  test('a template is not changed by filling it', () => {
    const before = JSON.stringify(template);
    formatZellijLayout(makePlan(8), template);
    expect(JSON.stringify(template)).toBe(before);
  });
});

describe('bad templates: one line with file and line', () => {
  const refuse = (text: string) => {
    try {
      parseZellijTemplate(text, 'my/layout.kdl');
    } catch (err) {
      expect(err).toBeInstanceOf(UserError);
      const message = (err as UserError).message;
      expect(message.split('\n')).toHaveLength(1);
      return message;
    }
    throw new Error('accepted');
  };
  test.each([
    ['no worker placeholder', 'layout {\n    pane\n    isollm-dashboard\n}\n', /^my\/layout\.kdl:1: no isollm-workers node: put one where the worker panes go/],
    ['KDL v2 syntax', 'layout {\n    isollm-workers\n    pane borderless=#true\n}\n', /^my\/layout\.kdl:3: not a KDL v1 layout near .* \(zellij reads KDL v1 only\) — this is KDL v2 syntax/],
    ['unclosed brace', 'layout {\n    isollm-workers\n', /^my\/layout\.kdl:3: not a KDL v1 layout at the end of the file/],
    ['unknown node', 'layout {\n    isollm-workers\n    pane {\n        pain\n    }\n}\n', /^my\/layout\.kdl:4: unknown node "pain" in a pane/],
    ['unknown top node', 'layout {\n    isollm-workers\n    panes\n}\n', /^my\/layout\.kdl:3: unknown node "panes" in the layout/],
    ['unknown property', 'layout {\n    isollm-workers\n\n    pane colour="red"\n}\n', /^my\/layout\.kdl:4: unknown pane property "colour"/],
    ['bad value', 'layout {\n    pane split_direction="sideways" {\n        isollm-workers\n    }\n}\n', /^my\/layout\.kdl:2: pane split_direction="sideways": must be "vertical"/],
    ['two worker placeholders', 'layout {\n    isollm-workers\n    pane {\n        isollm-workers\n    }\n}\n', /^my\/layout\.kdl:4: a second isollm-workers node/],
    ['placeholder with children', 'layout {\n    isollm-workers {\n        pane\n    }\n}\n', /^my\/layout\.kdl:2: isollm-workers takes no arguments or children/],
    ['placeholder with an odd property', 'layout {\n    isollm-workers name="x"\n}\n', /^my\/layout\.kdl:2: isollm-workers takes only size, not "name"/],
    ['panes beside tabs', 'layout {\n    tab {\n        isollm-workers\n    }\n    pane\n}\n', /^my\/layout\.kdl:5: "pane" beside `tab` nodes/],
    ['not a layout', 'pane\n', /^my\/layout\.kdl:1: a layout file holds one `layout \{ … \}` node, not "pane"/],
    ['two top nodes', 'layout {\n    isollm-workers\n}\nlayout {\n}\n', /^my\/layout\.kdl:4: a layout file holds one/],
    ['workers in a template only', 'layout {\n    default_tab_template {\n        isollm-workers\n    }\n}\n', /^my\/layout\.kdl:1: no isollm-workers node/],
  ])('%s', (_, text, message) => {
    expect(refuse(text)).toMatch(message);
  });

  test('a file that cannot be read names the key', () => {
    expect(() => readZellijTemplate('/nonexistent/layout.kdl')).toThrow(/^multiplexer\.template: cannot read \/nonexistent\/layout\.kdl \(ENOENT\)/);
  });

  test('pickMultiplexer refuses a bad template and an unreadable tmux_conf before anything starts', () => {
    const dir = tmpDir();
    const bad = path.join(dir, 'layout.kdl');
    fs.writeFileSync(bad, 'layout {\n    pane\n}\n');
    const env = { PATH: '' };
    expect(() => pickMultiplexer('auto', { layoutDir: dir, template: bad, env })).toThrow(`${bad}:1: no isollm-workers node`);
    expect(() => pickMultiplexer('auto', { layoutDir: dir, tmuxConf: path.join(dir, 'nope.conf'), env })).toThrow(/^multiplexer\.tmux_conf: cannot read .*nope\.conf \(ENOENT\)/);
    expect(() => pickMultiplexer('auto', { layoutDir: dir, tmuxConf: dir, env })).toThrow(/multiplexer\.tmux_conf: cannot read/);
    expect(pickMultiplexer('none', { layoutDir: dir, template: bad, env }).mux).toBeNull(); // no multiplexer: nothing to check
  });
});

test('node lines: comments, `/-` nodes and their children, `;` and `\\` continuations', () => {
  const text = 'a 1 // c\n/- b {\n    c\n}\n"d" x=1; e \\\n  2\n(t)f /- { g; }\nh /* x\n */ i=1 {\n    j\n}\n';
  expect(parse(text).errors).toEqual([]);
  expect(nodeStartLines(text)).toEqual([1, 5, 5, 7, 8, 10]);
});

test('every unknown pane property of the user template case is caught, whatever the nesting', () => {
  const deep: ZellijTemplate = parseZellijTemplate('layout {\n    tab {\n        pane {\n            pane {\n                isollm-workers\n            }\n        }\n    }\n}\n', 'x.kdl');
  expect(deep.layout.children).toHaveLength(1);
  expect(() => parseZellijTemplate('layout {\n    tab {\n        pane {\n            pane stack=true {\n                isollm-workers\n            }\n        }\n    }\n}\n', 'x.kdl')).toThrow(/^x\.kdl:4: unknown pane property "stack"/);
});

describe('the README', () => {
  const readme = fs.readFileSync(path.join(import.meta.dirname, '..', 'README.md'), 'utf8');
  const block = (marker: string) => {
    const m = new RegExp(`<!-- ${marker} -->\\n\`\`\`kdl\\n([^]*?)\`\`\``).exec(readme);
    expect(m, marker).not.toBeNull();
    return m![1];
  };
  const plan = (n: number): MuxPlan => ({
    session: 'isollm-shop',
    cwd: '/home/me/shop',
    layout: 'auto',
    maxPerTab: 6,
    dashboard: { command: ['isollm', 'status', '--watch'], size: resolveDashboardSize('auto', fullViewLines(n)) },
    workers: Array.from({ length: n }, (_, i) => ({ name: `worker-${i + 1}`, command: ['lxc', 'exec', `shop-worker-${i + 1}`, '--', 'isollm-agent'] })),
  });

  test('its custom template is accepted and keeps its log pane and htop tab', () => {
    const doc = parse(formatZellijLayout(plan(8), parseZellijTemplate(block('readme-template'), 'README.md'))).output!;
    expect(names(doc[0].children)).toEqual(['tab:work 1', 'tab:work 2', 'tab:htop']);
    expect(commandPanes(doc[0].children[1]).map((p) => p.properties.name)).toEqual(['worker-5', 'worker-6', 'worker-7', 'worker-8', 'log']);
  });
  test.each([3, 8])('its generated layout for %i workers is what isollm makes', (n) => {
    expect(block(`readme-generated-${n}`)).toBe(formatZellijLayout(plan(n)));
  });
});
