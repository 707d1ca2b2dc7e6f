// What the service on one shard asks of the others. A room lives on exactly
// one shard, so a question about all rooms (the public rooms for the
// service's disco#items, the rooms an admin may destroy) is put to every
// shard and the answers gathered: a BroadcastChannel joins the shard workers
// of one server directly, without the main thread. Being another channel, a
// question may overtake the stanzas the main thread sent a shard before it:
// a shard answers once it has read and handled those (ShardAnswers.caughtUp).
// A shard that does not answer in time (one restarting after a crash) is left
// out of the answer. In a cluster, one more member on the main thread answers
// for the other nodes (src/cluster/service-bridge.ts).

import { randomUUID } from 'node:crypto';
import { BroadcastChannel } from 'node:worker_threads';

const ANSWER_TIMEOUT_MS = 2_000;

/** The bus of one server's MUC service. */
export function busName(dataDir: string, mucDomain: string): string {
  return `conclave-muc ${dataDir} ${mucDomain}`;
}

/** A room as the shard that holds it describes it. */
export interface LiveRoom {
  jid: string;
  name?: string;
  public: boolean;
}

/** A public room as listed: its JID and name. */
export type PublicRoom = [jid: string, name: string | undefined];

/** What a member of the bus answers for itself. */
export interface ShardAnswers {
  /** Its live rooms. */
  rooms(): LiveRoom[] | Promise<LiveRoom[]>;
  /** The public rooms it answers for, live or stored, with their names. */
  publicRooms(): PublicRoom[] | Promise<PublicRoom[]>;
  /** Destroys those of these rooms it holds; resolves with the ones destroyed. */
  destroy(rooms: string[], reason?: string): Promise<string[]>;
  /**
   * Resolves once the shard has handled the stanzas it was sent before the
   * question came. None for the cluster's bridge: nodes' stanzas have no order between them.
   */
  caughtUp?(): Promise<void>;
}

type Question = { kind: 'rooms' } | { kind: 'public' } | { kind: 'destroy'; rooms: string[]; reason?: string };

type Message =
  | { id: string; asker: number; question: Question }
  | { id: string; asker: number; answer: LiveRoom[] | PublicRoom[] | string[] };

interface Pending {
  answers: unknown[];
  resolve(answers: unknown[]): void;
  timer: NodeJS.Timeout;
}

export class ShardBus {
  private readonly channel: BroadcastChannel;
  private readonly pending = new Map<string, Pending>();
  private closed = false;

  constructor(
    /** Names the server: shards of other servers in the same process must not hear it (`busName`). */
    name: string,
    private readonly shardIndex: number,
    /** How many other members answer each question. */
    private readonly answerers: number,
    private readonly own: ShardAnswers,
  ) {
    this.channel = new BroadcastChannel(name);
    this.channel.onmessage = (event) => void this.heard((event as { data: Message }).data);
    this.channel.unref();
  }

  /** Every other shard's live rooms. */
  async otherRooms(): Promise<LiveRoom[]> {
    return ((await this.ask({ kind: 'rooms' })) as LiveRoom[][]).flat();
  }

  /** The public rooms every other shard answers for. */
  async otherPublicRooms(): Promise<PublicRoom[]> {
    return ((await this.ask({ kind: 'public' })) as PublicRoom[][]).flat();
  }

  /** Has the other shards destroy those of these rooms they hold; the ones they destroyed. */
  async destroyElsewhere(rooms: string[], reason?: string): Promise<string[]> {
    return ((await this.ask({ kind: 'destroy', rooms, reason })) as string[][]).flat();
  }

  close(): void {
    this.closed = true;
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.resolve(pending.answers);
    }
    this.pending.clear();
    this.channel.close();
  }

  private ask(question: Question): Promise<unknown[]> {
    if (this.answerers === 0) return Promise.resolve([]);
    const id = randomUUID();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle(id), ANSWER_TIMEOUT_MS);
      this.pending.set(id, { answers: [], resolve, timer });
      this.channel.postMessage({ id, asker: this.shardIndex, question } satisfies Message);
    });
  }

  private async heard(message: Message): Promise<void> {
    if ('question' in message) {
      const { question } = message;
      await this.own.caughtUp?.();
      const answer =
        question.kind === 'rooms'
          ? await this.own.rooms()
          : question.kind === 'public'
            ? await this.own.publicRooms()
            : await this.own.destroy(question.rooms, question.reason);
      // Catching up may have read the shard's close.
      if (this.closed) return;
      this.channel.postMessage({ id: message.id, asker: message.asker, answer } satisfies Message);
      return;
    }
    const pending = message.asker === this.shardIndex ? this.pending.get(message.id) : undefined;
    if (pending === undefined) return;
    pending.answers.push(message.answer);
    if (pending.answers.length === this.answerers) this.settle(message.id);
  }

  private settle(id: string): void {
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    pending.resolve(pending.answers);
  }
}
