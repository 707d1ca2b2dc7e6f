// What crosses between the main thread and an I/O thread (io-threads.ts,
// io-thread.ts). An I/O thread owns its client connections end to end:
// socket, stream parser, SASL, binding, output. The main thread keeps what
// every session shares: the session table, the router, the account services
// and the shards, and knows each session by the I/O thread that owns it and
// the number that thread gave it.
//
// Both directions are batched per event-loop turn, one message per turn, in
// order: a session's stanzas reach the router after its binding, and what the
// router sends a session reaches it in the order it was sent. A session's
// room-bound stanzas do not come here: they go straight to the room's shard
// over the thread's link (room-path.ts, io-links.ts), and the shard's
// deliveries for the thread's sessions come back over it, split per thread
// there: once per thread with all of that thread's recipients.

import type { MessagePort } from 'node:worker_threads';
import type { Settings } from '../config/load.js';
import type { Delivery } from '../runtime/protocol.js';
import type { AccountChange } from '../store/accounts.js';
import type { Element } from '../xml/element.js';
import type { HandedOverSession, Phase } from './c2s-session.js';
import type { RoomPathState } from './room-path.js';

/** I/O thread → main thread, in the order things happened on the thread. */
export type SessionEvent =
  /** A connection bound `fullJid`; the thread numbers its sessions. */
  | { kind: 'bound'; id: number; fullJid: string }
  /** A stanza from a bound session (as parsed: the router stamps and checks it). */
  | { kind: 'stanza'; id: number; stanza: Element }
  /** A stanza of session `id` to a room, waiting on the thread for the main thread's account modules ('stanza-out'): the answer is `answer`. */
  | { kind: 'stanza-out'; id: number; stanza: Element }
  | { kind: 'ended'; id: number; reason: string | undefined }
  /** What a shard's link brought for full JIDs this thread no longer serves (ended or moved): the router places it. */
  | { kind: 'undelivered'; deliveries: Delivery[] }
  /** Session `id` can be resumed under `resumption` (XEP-0198). */
  | { kind: 'resumable'; id: number; resumption: string }
  /** A connection logged in to `account` asks to resume `resumption`, not on this thread; `id` is the number it will have as that session. */
  | { kind: 'resume'; id: number; resumption: string; account: string }
  /** Answer to `hand-over`: session `id` left this thread with `state` for thread `thread`'s session `to`, or stayed (undefined). */
  | { kind: 'handed-over'; id: number; state: HandedOverSession | undefined; rooms: RoomPathState | undefined; thread: number; to: number }
  /** A session that moved here has its shards' directory entry under key `from` (on the thread it left): move it to `to` (move-fence.ts). */
  | { kind: 'move'; fullJid: string; from: number; to: number }
  /** Shard `shard` moved the entry of `fullJid` away from this thread, after everything it sent here for it (move-fence.ts). */
  | { kind: 'fenced'; fullJid: string; shard: number };

/** Main thread → I/O thread. */
export type SessionCommand =
  | { kind: 'send'; id: number; xml: string }
  /** A shard's delivery: `head + " to='" + to[i] + "'" + tail` for session `ids[i]`. */
  | { kind: 'deliver'; head: string; tail: string; to: string[]; ids: number[] }
  | { kind: 'stream-error'; id: number; condition: string; text: string | undefined }
  | { kind: 'account-changed'; id: number; change: AccountChange }
  /** Flow control (shard-pool.ts `StanzaSender`): the session's stanzas posted to and handled by the shards since the last such command. */
  | { kind: 'in-flight'; id: number; posted: number; handled: number }
  | { kind: 'shard-congested'; id: number }
  | { kind: 'shard-caught-up'; id: number }
  /** Whether a module watches the session's account: its room stanzas wait for the first of these (room-path.ts). */
  | { kind: 'route'; id: number; watched: boolean }
  /** The answer to `stanza-out`: the stanza goes on to its room, or not (a module took it). */
  | { kind: 'answer'; id: number; send: boolean }
  /** The router has ended the session (its `ended` event came): the thread may close its stream now. */
  | { kind: 'ended'; id: number }
  /** Its client resumes session `id` on thread `thread`, as that thread's session `to`: it leaves this thread. */
  | { kind: 'hand-over'; id: number; resumption: string; thread: number; to: number }
  /** The session a `resume` asked for, moved here as session `id`. */
  | { kind: 'adopt'; id: number; state: HandedOverSession; rooms: RoomPathState | undefined }
  /** The session a `resume` asked for (by `id`) is nowhere. */
  | { kind: 'resume-failed'; id: number }
  /** A session of this thread's that moved away: its entry in the shards' directory follows it (move-fence.ts). */
  | { kind: 'move'; fullJid: string; from: number; to: number }
  /** Shard `shard`'s deliveries for session `id` no longer come through its old thread. */
  | { kind: 'fenced'; id: number; shard: number };

export type ToIoThread =
  | { kind: 'commands'; commands: SessionCommand[] }
  /** A reload's settings (live-settings.ts), already checked on the main thread. */
  | { kind: 'reload'; settings: Settings }
  | { kind: 'stop-accepting' }
  /** The thread's end of a direct link with shard `shard` (transferred): `LinkRequest[]` one way, `LinkOutput` the other (shard-channel.ts). */
  | { kind: 'link'; shard: number; port: MessagePort }
  /**
   * Shard `shard`'s worker is gone: write what it sent, answer what the thread
   * sent it and lost, then drop the link (what the main thread sends next comes
   * after); `closed` when no worker follows.
   */
  | { kind: 'unlink'; shard: number; closed: boolean }
  | { kind: 'close' };

export type FromIoThread =
  /** The thread listens on `port` (the one the first thread got when `client.port` is 0). */
  | { kind: 'listening'; port: number }
  /** Its open connections by the state of their stream, now and then, for /metrics and /status. */
  | { kind: 'states'; states: [Phase, number][] }
  | { kind: 'events'; events: SessionEvent[] }
  /** Every connection is closed after a `close`. */
  | { kind: 'closed' };

/** An I/O thread's `workerData`. */
export interface IoThreadData {
  index: number;
  settings: Settings;
  /** The port to listen on: `client.port` for the first thread, the port it got for the others. */
  port: number;
}

/** Items posted together once per event-loop turn, in the order pushed. */
export class TurnBatch<T> {
  private items: T[] = [];
  private scheduled = false;

  constructor(private readonly post: (items: T[]) => void) {}

  push(item: T): void {
    this.items.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** The item pushed last, while it has not been posted yet. */
  last(): T | undefined {
    return this.items[this.items.length - 1];
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.post(items);
  };
}
