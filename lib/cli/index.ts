// lib/cli — the command-line layer: flag specs and parsing (args), the command table the dispatcher
// loads lazily (commands), the one top-level error handler (run), typed errors with exit codes
// (errors), output and prompts (ui), and where isollm's own files are (package-files). Nothing
// below this layer prints; scripts/ call these to parse, report and print.
export * from './args.ts';
export * from './commands.ts';
export * from './editor.ts';
export * from './errors.ts';
export * from './package-files.ts';
export * from './report.ts';
export * from './run.ts';
export * from './shell-quote.ts';
export * from './template.ts';
export * from './ui.ts';
export * from './which.ts';
