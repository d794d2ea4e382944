// Typed errors: lib throws, only entry points print and set the exit code.

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** An error the user can meet: printed as one line (plus `detail`), no stack unless --debug. */
export class UserError extends Error {
  exitCode: number;
  detail?: string;
  constructor(message: string, options: { exitCode?: number; cause?: unknown; detail?: string } = {}) {
    super(message, { cause: options.cause });
    this.name = 'UserError';
    this.exitCode = options.exitCode ?? EXIT.failure;
    this.detail = options.detail;
  }
}

/** Bad command line: exit code 2. */
export class UsageError extends UserError {
  constructor(message: string) {
    super(message, { exitCode: EXIT.usage });
    this.name = 'UsageError';
  }
}

/** The user said no at a prompt: exits 0 after saying so. */
export class CancelledError extends UserError {
  constructor(message = 'Cancelled; nothing was changed.') {
    super(message, { exitCode: EXIT.ok });
    this.name = 'CancelledError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
