// Client connections served by I/O threads (`client.io_threads` > 1): each
// thread owns its connections end to end (io-thread.ts) and the main thread
// keeps one table of every bound session, as RemoteSessions, for the router,
// the account services and the account watcher, which run unchanged.
//
// The sockets reach the threads through the kernel: every thread listens on
// the port with SO_REUSEPORT (Node >= 22.12), the first on `client.port` and
// the others on the port it got. On Node 20 a worker thread can neither
// listen beside others nor be handed an accepted socket, and pumping every
// byte through the main thread would keep on it the very work the threads
// are for, so Node 20 serves clients on the main thread (load.ts).
//
// A session is known by its thread and the number its thread gave it. Its
// stanzas and its end arrive in order with its binding; what the router sends
// it crosses back in order, one message per thread per turn. Neither its
// room-bound stanzas nor the shards' deliveries pass here: each thread has a
// direct link to each shard (ShardPool.connect), over which it sends its
// sessions' stanzas for the rooms and its entries in the shards' session
// directory (room-path.ts). What the main thread adds to that path: whether a
// module watches an account (`route`), and the account modules' look at the
// stanzas the thread asks about (`stanza-out`). Only deliveries to bare
// JIDs, to watched accounts, and those a thread got for a session it no
// longer has, are routed here.
//
// A resumable session (XEP-0198) moves to the thread its client reconnected
// to, since the socket cannot move: the new thread asks here for the
// resumption id, the session's thread hands over its state and forgets the
// session silently, and the new thread adopts it. For the router nothing
// changes: the same RemoteSession, now pointing at the other thread. What the
// main thread sends it meanwhile waits and follows the hand-over in order.
// Until the shards move the session's directory entry (the new thread asks
// for it once it has adopted the session; move-fence.ts), the old thread
// passes what they send it on to here as undelivered, after the hand-over and
// in order; the new thread holds what they send it directly until each
// shard's fence has come through here behind those.

import { Worker, type MessagePort } from 'node:worker_threads';
import type { AccountServices } from '../account/services.js';
import type { Settings } from '../config/load.js';
import type { Logger } from '../log.js';
import type { Delivery } from '../runtime/protocol.js';
import { counters } from '../ops/counters.js';
import { threadOfKey } from '../runtime/shard-channel.js';
import type { ShardLinks, ShardPool } from '../runtime/shard-pool.js';
import type { AccountChange } from '../store/accounts.js';
import { Element } from '../xml/element.js';
import { TurnBatch, type FromIoThread, type IoThreadData, type SessionCommand, type SessionEvent, type ToIoThread } from './io-channel.js';
import type { HandedOverSession, Phase } from './c2s-session.js';
import type { RoomPathState } from './room-path.js';
import type { StanzaRouter } from './router.js';
import type { BoundSession, SessionTable } from './sessions.js';

const WORKER_FILE = new URL('./io-thread.js', import.meta.url);

/** A crashed I/O thread is replaced after this long (its port stays served by the others meanwhile). */
const RESTART_DELAY_MS = 1_000;

/** A session bound on an I/O thread, as the main thread's router sees it. */
export class RemoteSession implements BoundSession {
  readonly bareJid: string;
  available = false;
  priority = 0;
  presence: Element | undefined;
  readonly directedPresence = new Set<string>();
  ended = false;
  /** The id its client may resume it by (XEP-0198). */
  resumption: string | undefined;
  /** While it moves between threads: its commands, in order, for the thread it ends up on. */
  private moving: SessionCommand[] | undefined;
  /** While it moves: the connection waiting for it, as `to` on `thread`. */
  private destination: { thread: IoThread; to: number } | undefined;

  constructor(
    public thread: IoThread,
    public id: number,
    readonly fullJid: string,
  ) {
    this.bareJid = fullJid.slice(0, fullJid.indexOf('/'));
  }

  send(xml: string): void {
    this.command({ kind: 'send', id: this.id, xml });
  }

  deliver(delivery: Delivery, jid: string): void {
    if (this.moving) this.moving.push({ kind: 'deliver', head: delivery.head, tail: delivery.tail, to: [jid], ids: [this.id] });
    else if (!this.ended) this.thread.deliver(delivery, jid, this.id);
  }

  /** Closes the session's stream; for the router it ends now (a newcomer may take its JID at once). */
  streamError(condition: string, text?: string): void {
    if (this.ended) return;
    this.command({ kind: 'stream-error', id: this.id, condition, text });
    this.thread.end(this, text ?? condition);
  }

  stanzaPosted(): void {
    if (this.moving) this.moving.push({ kind: 'in-flight', id: this.id, posted: 1, handled: 0 });
    else if (!this.ended) this.thread.inFlight(this.id, 1, 0);
  }

  stanzaHandled(): void {
    if (this.moving) this.moving.push({ kind: 'in-flight', id: this.id, posted: 0, handled: 1 });
    else if (!this.ended) this.thread.inFlight(this.id, 0, 1);
  }

  shardCongested(): void {
    this.command({ kind: 'shard-congested', id: this.id });
  }

  shardCaughtUp(): void {
    this.command({ kind: 'shard-caught-up', id: this.id });
  }

  /** Whether a module watches the account: the thread's room path waits for the first of these. */
  route(watched: boolean): void {
    this.command({ kind: 'route', id: this.id, watched });
  }

  /** The answer to its thread's `stanza-out`. */
  answer(send: boolean): void {
    this.command({ kind: 'answer', id: this.id, send });
  }

  /** Shard `shard` no longer sends to it through its old thread (move-fence.ts). */
  fenced(shard: number): void {
    this.command({ kind: 'fenced', id: this.id, shard });
  }

  /** The thread's session judges whether the change ends it (c2s-session.ts), and says so when it does. */
  accountChanged(change: AccountChange): void {
    this.command({ kind: 'account-changed', id: this.id, change });
  }

  /** Its thread is asked to hand it over to connection `to` of `thread`: what it is sent waits until `moved`. */
  startMoving(thread: IoThread, to: number): void {
    this.moving = [];
    this.destination = { thread, to };
  }

  /** It ended while moving (its thread died, say): the connection waiting for it is not left waiting. */
  abandonMove(): void {
    this.destination?.thread.command({ kind: 'resume-failed', id: this.destination.to });
    this.destination = undefined;
  }

  get isMoving(): boolean {
    return this.moving !== undefined;
  }

  /** The hand-over is over: the session is now `id` on `thread` (or stayed where it was); what waited follows it. */
  moved(thread: IoThread, id: number): void {
    const waiting = this.moving!;
    this.moving = undefined;
    this.destination = undefined;
    this.thread = thread;
    this.id = id;
    for (const command of waiting) {
      if (command.kind === 'deliver') command.ids[0] = id;
      else if ('id' in command) command.id = id;
      this.command(command);
    }
  }

  private command(command: SessionCommand): void {
    if (this.moving) this.moving.push(command);
    else if (!this.ended) this.thread.command(command);
  }
}

export class IoThreads {
  private constructor(
    private readonly threads: IoThread[],
    /** The port every thread listens on. */
    readonly port: number,
  ) {}

  static async start(
    settings: Settings,
    sessions: SessionTable<RemoteSession>,
    router: StanzaRouter,
    shards: ShardPool,
    services: AccountServices,
    log: Logger,
  ): Promise<IoThreads> {
    // An account a module starts or stops watching has the rooms' stanzas to it pass the router, or not.
    services.onRoomWatchChanged((bareJid) => {
      const watched = services.watchesRooms(bareJid);
      for (const session of sessions.resources(bareJid)) session.route(watched);
    });
    const threads: IoThread[] = [];
    const resumable = new Map<string, RemoteSession>();
    const first = new IoThread(0, settings, sessions, router, shards, services, log, threads, resumable);
    threads.push(first);
    try {
      const port = await first.start(settings.client.port);
      for (let index = 1; index < settings.ioThreadCount; index++) threads.push(new IoThread(index, settings, sessions, router, shards, services, log, threads, resumable));
      await Promise.all(threads.slice(1).map((thread) => thread.start(port)));
      log.info({ ioThreads: threads.length }, 'I/O threads started');
      return new IoThreads(threads, port);
    } catch (err) {
      await Promise.all(threads.map((thread) => thread.close()));
      throw err;
    }
  }

  /** Open connections by the state of their stream, as the threads last reported them. */
  states(): Map<Phase, number> {
    const states = new Map<Phase, number>();
    for (const thread of this.threads) {
      for (const [state, count] of thread.states) states.set(state, (states.get(state) ?? 0) + count);
    }
    return states;
  }

  /** Each thread applies a reload's live keys to its own settings (live-settings.ts). */
  reload(settings: Settings): void {
    for (const thread of this.threads) thread.post({ kind: 'reload', settings });
  }

  /** Every thread stops accepting connections; those open stay. */
  stopAccepting(): void {
    for (const thread of this.threads) thread.post({ kind: 'stop-accepting' });
  }

  /** Tells every client the server is going down, and waits for the connections to close. */
  async close(): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.close()));
  }
}

/** One I/O thread: its worker, its live sessions, and this turn's commands for it. */
class IoThread implements ShardLinks {
  /** The thread's last report of its connections' states. */
  states: [Phase, number][] = [];
  private worker: Worker | undefined;
  private readonly live = new Map<number, RemoteSession>();
  private readonly commands = new TurnBatch<SessionCommand>((batch) => this.post({ kind: 'commands', commands: batch }));
  /** The delivery the last `deliver` command was made from, while that command is still the last one. */
  private lastDelivery: Delivery | undefined;
  private port = 0;
  private closing = false;
  private closed: (() => void) | undefined;

  constructor(
    readonly index: number,
    private readonly settings: Settings,
    private readonly sessions: SessionTable<RemoteSession>,
    private readonly router: StanzaRouter,
    private readonly shards: ShardPool,
    private readonly services: AccountServices,
    private readonly log: Logger,
    /** Every I/O thread, by index. */
    private readonly threads: readonly IoThread[],
    /** The resumable sessions of every thread, by resumption id. */
    private readonly resumable: Map<string, RemoteSession>,
  ) {}

  /** Starts the worker; resolves with the port it listens on, rejects if it fails first. */
  start(port: number): Promise<number> {
    const workerData: IoThreadData = { index: this.index, settings: this.settings, port };
    // Named for per-thread CPU figures (Node >= 22 shows the name in /proc).
    const worker = new Worker(WORKER_FILE, { workerData, name: `io-${this.index}` });
    this.worker = worker;
    return new Promise((resolve, reject) => {
      worker.on('message', (message: FromIoThread) => {
        if (message.kind === 'listening') {
          this.port = message.port;
          this.shards.connect(this.index, this);
          resolve(message.port);
        } else if (message.kind === 'events') this.receive(message.events);
        else if (message.kind === 'states') this.states = message.states;
        else this.closed?.();
      });
      worker.on('error', (err) => {
        this.log.error({ err, ioThread: this.index }, 'I/O thread failed');
        reject(err);
      });
      worker.on('exit', () => this.exited(worker));
    });
  }

  /** False once its worker has exited, until it is replaced. */
  get running(): boolean {
    return this.worker !== undefined;
  }

  /** Counts stanzas posted and handled for session `id`, in this turn's last command when it counts for `id` already. */
  inFlight(id: number, posted: number, handled: number): void {
    const last = this.commands.last();
    if (last?.kind === 'in-flight' && last.id === id) {
      last.posted += posted;
      last.handled += handled;
    } else this.command({ kind: 'in-flight', id, posted, handled });
  }

  command(command: SessionCommand): void {
    this.lastDelivery = undefined;
    this.commands.push(command);
  }

  /** Adds a recipient to this turn's crossing of `delivery`, or starts one. */
  deliver(delivery: Delivery, jid: string, id: number): void {
    const last = this.commands.last();
    if (this.lastDelivery === delivery && last?.kind === 'deliver') {
      last.to.push(jid);
      last.ids.push(id);
      return;
    }
    this.commands.push({ kind: 'deliver', head: delivery.head, tail: delivery.tail, to: [jid], ids: [id] });
    this.lastDelivery = delivery;
  }

  linked(shard: number, port: MessagePort): void {
    this.post({ kind: 'link', shard, port }, [port]);
  }

  unlinked(shard: number, closed: boolean): void {
    this.post({ kind: 'unlink', shard, closed });
  }

  /** The session is over for the router: it leaves the table, and its presence goes unavailable. */
  end(session: RemoteSession, reason: string | undefined): void {
    session.ended = true;
    session.abandonMove();
    this.live.delete(session.id);
    if (session.resumption !== undefined && this.resumable.get(session.resumption) === session) this.resumable.delete(session.resumption);
    this.sessions.remove(session);
    this.router.sessionEnded(session, reason);
  }

  async close(): Promise<void> {
    this.closing = true;
    const worker = this.worker;
    if (worker === undefined) return;
    const closed = new Promise<void>((resolve) => (this.closed = resolve));
    this.post({ kind: 'close' });
    await Promise.race([closed, new Promise((resolve) => worker.once('exit', resolve))]);
    await worker.terminate();
  }

  /** Posts now, after this turn's commands so far. */
  post(message: ToIoThread, transfer?: MessagePort[]): void {
    if (message.kind !== 'commands') this.commands.flush();
    this.lastDelivery = undefined;
    this.worker?.postMessage(message, transfer);
  }

  private receive(events: SessionEvent[]): void {
    for (const event of events) {
      switch (event.kind) {
        case 'bound': {
          // Prosody's default, across threads too: the newcomer wins and the old session is told why it goes.
          this.sessions.get(event.fullJid)?.streamError('conflict', 'Replaced by new connection');
          const session = new RemoteSession(this, event.id, event.fullJid);
          this.live.set(event.id, session);
          this.sessions.add(session);
          session.route(this.services.watchesRooms(session.bareJid));
          break;
        }
        case 'stanza': {
          const session = this.live.get(event.id);
          if (session === undefined) break; // Replaced meanwhile: its stanzas are no longer routed.
          try {
            this.router.fromClient(session, Element.revive(event.stanza));
          } catch (err) {
            // A bug must cost this session, not the server.
            this.log.error({ err, jid: session.fullJid }, 'error while routing a stanza');
            session.streamError('internal-server-error');
          }
          break;
        }
        case 'stanza-out': {
          const session = this.live.get(event.id);
          const send = session === undefined || !this.router.stanzaOut(session, Element.revive(event.stanza));
          // An ended session's thread still sends what waited behind the message: its leaves.
          if (session !== undefined) session.answer(send);
          else this.command({ kind: 'answer', id: event.id, send });
          break;
        }
        case 'ended': {
          const session = this.live.get(event.id);
          if (session !== undefined) this.end(session, event.reason);
          // Its stream closes only now, so a peer that saw it close sees a server that knows it is gone.
          this.command({ kind: 'ended', id: event.id });
          break;
        }
        case 'undelivered':
          counters.reroutedDeliveries += event.deliveries.length;
          this.router.deliver(event.deliveries);
          break;
        case 'resumable': {
          const session = this.live.get(event.id);
          if (session === undefined) break;
          session.resumption = event.resumption;
          this.resumable.set(event.resumption, session);
          break;
        }
        case 'resume':
          this.resume(event.id, event.resumption, event.account);
          break;
        case 'move':
          this.threads[threadOfKey(event.from)]?.command({ kind: 'move', fullJid: event.fullJid, from: event.from, to: event.to });
          break;
        case 'fenced':
          this.sessions.get(event.fullJid)?.fenced(event.shard);
          break;
        case 'handed-over':
          this.handedOver(event.id, event.state, event.rooms, this.threads[event.thread]!, event.to);
          break;
      }
    }
  }

  /** Connection `id` of this thread resumes `resumption`: the session's thread is asked to hand it over, or the connection is told it is nowhere. */
  private resume(id: number, resumption: string, account: string): void {
    const session = this.resumable.get(resumption);
    // On this thread it would have been found there: it is gone.
    if (session === undefined || session.bareJid !== account || session.isMoving || session.thread === this) {
      return this.command({ kind: 'resume-failed', id });
    }
    session.startMoving(this, id);
    session.thread.command({ kind: 'hand-over', id: session.id, resumption, thread: this.index, to: id });
  }

  /** This thread answered a `hand-over` of its session `id`: the session follows its state to `thread` as `to`, or stays. */
  private handedOver(id: number, state: HandedOverSession | undefined, rooms: RoomPathState | undefined, thread: IoThread, to: number): void {
    // Ended meanwhile (replaced by a new bind, say), it is no longer in `live`, and the client starts anew.
    const session = this.live.get(id);
    if (state === undefined || session === undefined) {
      thread.command({ kind: 'resume-failed', id: to });
      session?.moved(this, id);
      return;
    }
    this.live.delete(id);
    thread.live.set(to, session);
    thread.command({ kind: 'adopt', id: to, state, rooms });
    session.moved(thread, to);
    // The thread died while the session was on its way: it went with the thread's other sessions.
    if (!thread.running) thread.end(session, 'internal server error');
  }

  /** A worker that exits without being asked took its connections with it: their sessions end, and a new thread takes its place. */
  private exited(worker: Worker): void {
    if (worker !== this.worker) return;
    this.worker = undefined;
    this.shards.disconnect(this.index);
    for (const session of [...this.live.values()]) this.end(session, 'internal server error');
    if (this.closing) return this.closed?.();
    this.log.error({ ioThread: this.index }, 'I/O thread exited; restarting it');
    setTimeout(() => {
      if (!this.closing) this.start(this.port).catch((err: unknown) => this.log.error({ err, ioThread: this.index }, 'I/O thread restart failed'));
    }, RESTART_DELAY_MS).unref();
  }
}
