// An I/O thread (see io-threads.ts): it listens on the client port beside the
// other I/O threads (SO_REUSEPORT: the kernel spreads the connections) and
// runs each connection's ClientSession as the main thread would: reading,
// parsing, SASL, binding, writing. A bound session's stanzas for the MUC
// service go straight to the room's shard over the thread's link to it
// (room-path.ts, io-links.ts); the others are routed by the main thread, and
// what the router sends the session comes back as commands. The shards'
// deliveries for the thread's sessions come straight from each shard over its
// link, with only this thread's recipients.

import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../log.js';
import { serviceDomainOf, unhandledStanzaAnswer } from '../muc/shard-keeper.js';
import type { Delivery } from '../runtime/protocol.js';
import { addressedTo, directoryKey, type LinkDelivery } from '../runtime/shard-channel.js';
import { openDatabase } from '../store/database.js';
import { openAccounts } from '../store/open.js';
import type { Element } from '../xml/element.js';
import { createAuthBackend, createGuestBackend } from './auth.js';
import type { C2sContext, ClientSession } from './c2s-session.js';
import { TurnBatch, type FromIoThread, type IoThreadData, type SessionCommand, type SessionEvent, type ToIoThread } from './io-channel.js';
import { IoLinks } from './io-links.js';
import { ClientListener, loadTlsContext } from './listener.js';
import { applyLiveSettings } from './live-settings.js';
import { LoginPacing } from './login-pacing.js';
import { MoveFence } from './move-fence.js';
import { RoomPath } from './room-path.js';
import { SessionTable } from './sessions.js';

/** How often the thread tells the main thread its connections' states. */
const STATES_INTERVAL_MS = 1_000;

const { index, settings, port } = workerData as IoThreadData;
const main = parentPort!;
const post = (message: FromIoThread): void => main.postMessage(message);
const events = new TurnBatch<SessionEvent>((batch) => post({ kind: 'events', events: batch }));

/** The local session table, which numbers each session it binds and tells the main thread. */
class NumberedSessions extends SessionTable<ClientSession> {
  private nextId = 0;
  readonly byId = new Map<number, ClientSession>();
  readonly ids = new Map<ClientSession, number>();
  /** Connections waiting for a session from another thread, by the number they will have as that session. */
  readonly resuming = new Map<number, ClientSession>();
  private readonly reserved = new Map<ClientSession, number>();

  /** A connection that resumes a session of another thread: the number it will have once the session moved here. */
  reserve(connection: ClientSession): number {
    const id = this.nextId++;
    this.resuming.set(id, connection);
    this.reserved.set(connection, id);
    return id;
  }

  /** The connection `id` was reserved for no longer waits. */
  settle(id: number): ClientSession | undefined {
    const connection = this.resuming.get(id);
    this.resuming.delete(id);
    if (connection !== undefined) this.reserved.delete(connection);
    return connection;
  }

  /** A bound session is new to the main thread, unless it moved here (it took the number reserved for it then). */
  override add(session: ClientSession): void {
    super.add(session);
    const moved = this.reserved.get(session);
    const id = moved ?? this.nextId++;
    if (moved !== undefined) this.settle(moved);
    this.byId.set(id, session);
    this.ids.set(session, id);
    if (moved !== undefined) return;
    events.push({ kind: 'bound', id, fullJid: session.fullJid });
    rooms?.bound(id, session);
  }

  /** The session moved to another thread: it leaves without an end. */
  forget(session: ClientSession): void {
    const id = this.ids.get(session)!;
    this.ids.delete(session);
    this.byId.delete(id);
  }

  /** Sessions whose end the main thread has not confirmed yet, by number. */
  private readonly ending = new Map<number, () => void>();

  /** The session is over (after `remove`): resolves once the main thread has ended it too. */
  ended(session: ClientSession, reason: string | undefined): Promise<void> | void {
    const id = this.ids.get(session);
    if (id === undefined) return;
    this.ids.delete(session);
    this.byId.delete(id);
    events.push({ kind: 'ended', id, reason });
    return new Promise((resolve) => this.ending.set(id, resolve));
  }

  /** The main thread ended session `id`. */
  confirmEnd(id: number): void {
    this.ending.get(id)?.();
    this.ending.delete(id);
  }
}

const log = createLogger(settings.log_level, { ioThread: index });
const database = openDatabase(settings.data_dir, settings.storage.durability);
const accountStore = await openAccounts(settings, database, log);
const sessions = new NumberedSessions();
const serviceDomain = serviceDomainOf(settings);
const fence = new MoveFence(settings.shardCount);
const links = new IoLinks({
  shardCount: settings.shardCount,
  maxInFlight: Math.ceil(settings.client.max_shard_stanzas_in_flight / settings.ioThreadCount),
  paceMs: settings.muc.thread_batch_delay_ms,
  deliver,
  moved(fullJids, shard) {
    for (const fullJid of fullJids) events.push({ kind: 'fenced', fullJid, shard });
  },
  refuse(stanzas, condition) {
    for (const stanza of stanzas) {
      const error = unhandledStanzaAnswer(stanza, condition, serviceDomain);
      if (error !== undefined) sessions.get(error.attrs.to!)?.send(error.toString());
    }
  },
});
// In a cluster a room may live on another node: its stanzas go through the main thread's seam.
const rooms = settings.cluster === null ? new RoomPath(settings, index, links, (id, stanza) => events.push({ kind: 'stanza-out', id, stanza })) : undefined;
const router = {
  fromClient(session: ClientSession, stanza: Element): void {
    const id = sessions.ids.get(session);
    if (id !== undefined && rooms?.fromClient(id, stanza) !== true) events.push({ kind: 'stanza', id, stanza });
  },
  sessionEnded(session: ClientSession, reason?: string) {
    const id = sessions.ids.get(session);
    if (id !== undefined) rooms?.ended(id, reason);
    fence.drop(session);
    return sessions.ended(session, reason);
  },
};
const c2s: C2sContext = {
  settings,
  auth: createAuthBackend(settings, accountStore.accounts),
  guests: createGuestBackend(settings),
  sessions,
  router,
  tls: loadTlsContext(settings),
  log,
  pacing: new LoginPacing(settings),
  elsewhere: {
    offered(session, resumption) {
      const id = sessions.ids.get(session);
      if (id !== undefined) events.push({ kind: 'resumable', id, resumption });
    },
    resume(connection, resumption, account) {
      events.push({ kind: 'resume', id: sessions.reserve(connection), resumption, account });
    },
  },
};
const listener = await ClientListener.listen(c2s, { port, reusePort: true });

function run(command: SessionCommand): void {
  switch (command.kind) {
    case 'send':
      return sessions.byId.get(command.id)?.send(command.xml);
    case 'deliver':
      for (let i = 0; i < command.to.length; i++) sessions.byId.get(command.ids[i]!)?.send(addressedTo(command, command.to[i]!));
      return;
    case 'stream-error':
      return sessions.byId.get(command.id)?.streamError(command.condition, command.text);
    case 'account-changed':
      return sessions.byId.get(command.id)?.accountChanged(command.change);
    case 'in-flight': {
      const session = sessions.byId.get(command.id);
      for (let i = 0; session && i < command.posted; i++) session.stanzaPosted();
      for (let i = 0; session && i < command.handled; i++) session.stanzaHandled();
      return;
    }
    case 'shard-congested':
      return sessions.byId.get(command.id)?.shardCongested();
    case 'shard-caught-up':
      return sessions.byId.get(command.id)?.shardCaughtUp();
    case 'route':
      return rooms?.route(command.id, command.watched);
    case 'answer':
      return rooms?.answer(command.id, command.send);
    case 'ended':
      return sessions.confirmEnd(command.id);
    case 'hand-over': {
      const session = sessions.byId.get(command.id);
      if (session !== undefined) fence.writeAll(session);
      const state = session?.handOver(command.resumption);
      let carried;
      if (state !== undefined) {
        sessions.forget(session!);
        carried = rooms?.handOver(command.id);
        // What it has in flight to the shards went over this thread's links, whose receipts come back here.
        if (carried !== undefined) state.inFlight = state.congested = 0;
      }
      events.push({ kind: 'handed-over', id: command.id, state, rooms: carried, thread: command.thread, to: command.to });
      return;
    }
    case 'adopt': {
      const connection = sessions.resuming.get(command.id);
      if (connection === undefined) return;
      // The room path first: the session may end as it is adopted (a wrong h), and its end leaves its rooms.
      const from = command.rooms && rooms?.adopt(command.id, connection, command.state.fullJid, command.rooms);
      if (from !== undefined) fence.expect(connection);
      connection.adopt(command.state);
      // Adopted, so that what the shards send here once they switch finds the session, and waits for their fences.
      if (from !== undefined && sessions.ids.get(connection) === command.id) events.push({ kind: 'move', fullJid: command.state.fullJid, from, to: directoryKey(index, command.id) });
      return;
    }
    case 'move':
      return links.move(command.fullJid, command.from, command.to);
    case 'fenced': {
      const session = sessions.byId.get(command.id);
      if (session !== undefined) fence.fenced(session, command.shard);
      return;
    }
    case 'resume-failed':
      return sessions.settle(command.id)?.resumeFailed();
  }
}

/** Writes a shard's deliveries to this thread's sessions; those it no longer has go to the main thread's router. */
function deliver(deliveries: LinkDelivery[], shard: number): void {
  let undelivered: Delivery[] | undefined;
  for (const delivery of deliveries) {
    let missing: string[] | undefined;
    for (let i = 0; i < delivery.to.length; i++) {
      const jid = delivery.to[i]!;
      // By number: a JID cloned across threads would be hashed anew for each lookup.
      const session = sessions.byId.get(delivery.ids[i]!);
      if (session === undefined) (missing ??= []).push(jid);
      else {
        const xml = addressedTo(delivery, jid);
        if (!fence.held(session, shard, xml)) session.send(xml);
      }
    }
    if (missing !== undefined) (undelivered ??= []).push({ head: delivery.head, tail: delivery.tail, to: missing });
  }
  if (undelivered !== undefined) events.push({ kind: 'undelivered', deliveries: undelivered });
}

main.on('message', (message: ToIoThread) => {
  switch (message.kind) {
    case 'commands':
      for (const command of message.commands) run(command);
      return;
    case 'reload':
      return applyLiveSettings(settings, message.settings, c2s, log);
    case 'stop-accepting':
      return listener.stopAccepting();
    case 'link':
      fence.relinked(message.shard);
      return links.link(message.shard, message.port);
    case 'unlink':
      return links.unlink(message.shard, message.closed);
  }
  void (async () => {
    await listener.close();
    events.flush();
    await accountStore.close();
    await database.close();
    post({ kind: 'closed' });
    main.close();
  })();
});
post({ kind: 'listening', port: listener.port });
setInterval(() => post({ kind: 'states', states: [...listener.states()] }), STATES_INTERVAL_MS).unref();
