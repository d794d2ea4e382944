// The command table: one entry per script in scripts/, loaded only when it runs.
export type CommandEntry = { summary: string; load: () => Promise<unknown> };

export const COMMANDS: Record<string, CommandEntry> = {
  init: { summary: 'create isollm.yaml in this git repository', load: () => import('../scripts/init.mts') },
  config: { summary: 'show or edit the resolved configuration', load: () => import('../scripts/config.mts') },
  doctor: { summary: 'check every prerequisite and say how to fix what is missing', load: () => import('../scripts/doctor.mts') },
};

export function alignedList(): string[] {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  return Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
}
