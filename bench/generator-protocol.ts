// The messages between the benchmark coordinator and its generator processes.
// Each generator owns the clients whose id modulo the number of generators is
// its index; the coordinator says what they do and collects what they measured.

import type { MobileMode, ServerAddress } from './load-client.js';

/** Passed to a generator process as its only argument, JSON-encoded. */
export interface GeneratorSetup {
  server: ServerAddress;
  /** Makes usernames unique to one run: `${userPrefix}${clientId}`. */
  userPrefix: string;
}

export interface GeneratorCommands {
  /** Connects the clients that are not connected yet, then joins those given a room. */
  enter: {
    args: { clients: { id: number; room: string | null; mobile?: MobileMode }[]; startedAt: number };
    result: EnterResult;
  };
  /** The clients' connections drop, all at once, and each connects again: resumes, or logs in and rejoins its room. */
  reconnect: {
    args: { clients: number[]; startedAt: number };
    /** `resumed`: how many resumed their session rather than joining again. */
    result: EnterResult & { resumed: number };
  };
  /** Sends groupchat messages from joined clients at a rate, optionally making them leave and rejoin. */
  traffic: {
    args: { step: number; messagesPerSecond: number; durationMs: number; churnPerSecond: number; bodyBytes: number };
    result: TrafficResult;
  };
  /**
   * Sends groupchat messages from every joined client as fast as the server
   * reads them (the next write waits while the socket's buffer is full), until
   * the time or the number of messages is reached or the server closes.
   */
  flood: {
    args: { step: number; durationMs: number; maxMessages: number; bodyBytes: number };
    result: FloodResult;
  };
  /**
   * Each joined client makes its room persistent, then changes an affiliation
   * in it over and over, one at a time, each once the previous was
   * acknowledged: writes the server must store before it answers.
   */
  writes: {
    args: { durationMs: number };
    result: WritesResult;
  };
  /**
   * What receivers counted for one step so far (the histogram only when asked),
   * and how many clients the server has disconnected.
   */
  collect: {
    args: { step: number; withHistogram: boolean };
    result: { delivered: number; histogram: string | null; disconnected: number };
  };
  /** Makes the given clients leave their room, if they are in one, and disconnect; counts the leaves that failed. */
  exit: { args: { clients: number[] }; result: { failed: number } };
  /** CPU this generator process used so far. */
  usage: { args: Record<string, never>; result: { cpuMicros: number } };
  /** Closes every client; the process exits afterwards. */
  close: { args: Record<string, never>; result: { disconnected: number } };
}

export type CommandName = keyof GeneratorCommands;

export interface EnterResult {
  succeeded: number;
  failed: number;
  /** The first few failure messages. */
  errors: string[];
  /** Each client's time from startedAt until it was in, microseconds. */
  histogram: string;
  /** Monotonic microseconds when the last client was in. */
  lastDoneAt: number;
}

export interface TrafficResult {
  sent: number;
  /** When sending started and stopped, monotonic microseconds. */
  startedAt: number;
  stoppedAt: number;
  churnCycles: number;
  churnFailed: number;
  /** Leave-to-rejoined time of each churn cycle, microseconds. */
  churnHistogram: string;
}

export interface FloodResult {
  sent: number;
  /** When writing started and stopped, monotonic microseconds. */
  startedAt: number;
  stoppedAt: number;
}

export interface WritesResult {
  acknowledged: number;
  failed: number;
  /** The first few failure messages. */
  errors: string[];
  /** Request to acknowledgement of each write, microseconds. */
  histogram: string;
  startedAt: number;
  stoppedAt: number;
}

export interface Request<K extends CommandName = CommandName> {
  id: number;
  kind: K;
  args: GeneratorCommands[K]['args'];
}

export type Response =
  | { id: number; ok: true; result: GeneratorCommands[CommandName]['result'] }
  | { id: number; ok: false; error: string };
