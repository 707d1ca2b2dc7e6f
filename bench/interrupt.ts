// ^C during a long bench run (fuzz, soak): the first one stops taking new
// work, lets what is in flight finish and has the report printed of what ran
// so far, with exit code 130; a second one exits at once. The server the run
// started is in a process group of its own (conclave-process.ts), so the
// terminal's ^C reaches only this process, which stops the server itself.

export interface Interruption {
  /** Aborted at the first SIGINT. */
  readonly signal: AbortSignal;
  /** Stops listening for SIGINT. */
  dispose(): void;
}

export function onInterrupt(log: (line: string) => void): Interruption {
  const controller = new AbortController();
  const interrupted = (): void => {
    if (controller.signal.aborted) process.exit(130);
    log('interrupted: finishing what is in flight, then the report (^C again to quit now)');
    controller.abort();
  };
  process.on('SIGINT', interrupted);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', interrupted) };
}

/** The exit code of a run: 130 when it was interrupted, else `code`. */
export function exitCode(interruption: Interruption, code: number): number {
  return interruption.signal.aborted ? 130 : code;
}
