// The MUC service's questions about every room (its disco#items, the admins'
// destroy command) across the cluster. A shard puts such a question to the
// other shards of its server over the ShardBus; on a cluster node the bus has
// one more member, on the main thread, which puts it to every other node over
// NATS and answers with what they said. Asked by another node, it puts the
// question to its own shards and replies with their answers. A node that does
// not answer in time is left out of the answer, as a shard is.

import type { NatsConnection } from 'nats';
import type { Settings } from '../config/load.js';
import { prepJid } from '../jid/jid.js';
import type { Logger } from '../log.js';
import { busName, ShardBus } from '../muc/shard-bus.js';

/** Within the shards' own wait for an answer (ShardBus), so that a late node costs only its own rooms. */
const NODE_TIMEOUT_MS = 1_500;

/** The bus member index of the bridge: no shard's. */
const BRIDGE = -1;

type Question = { kind: 'rooms' } | { kind: 'public' } | { kind: 'destroy'; rooms: string[]; reason?: string };

export class ServiceBridge {
  private readonly bus: ShardBus;

  constructor(
    settings: Settings,
    private readonly nats: NatsConnection,
    private readonly subject: (node: string) => string,
    private readonly self: string,
    private readonly members: () => readonly string[],
    private readonly log: Logger,
  ) {
    const domain = prepJid(settings.muc.domain) ?? settings.muc.domain;
    // Every shard of this node answers the bridge's questions.
    this.bus = new ShardBus(busName(settings.data_dir, domain), BRIDGE, settings.shardCount, {
      rooms: () => this.askNodes({ kind: 'rooms' }),
      publicRooms: () => this.askNodes({ kind: 'public' }),
      destroy: (rooms, reason) => this.askNodes({ kind: 'destroy', rooms, reason }),
    });
    nats.subscribe(subject(self), {
      callback: (err, msg) => {
        if (err) return;
        void this.answer(JSON.parse(new TextDecoder().decode(msg.data)) as Question)
          .then((answer) => msg.respond(JSON.stringify(answer)))
          .catch((error: unknown) => this.log.error({ err: error }, 'cannot answer a service question from another node'));
      },
    });
  }

  close(): void {
    this.bus.close();
  }

  /** The rooms live on this node's shards. */
  async liveRooms(): Promise<string[]> {
    return (await this.bus.otherRooms()).map((room) => room.jid);
  }

  /**
   * What this node's shards answer. Asked at the end of the turn: stanzas
   * for this node's rooms that came in the same read as the question (a
   * session's leaves from another node) go to the shards at the turn's end,
   * and the question must not overtake them.
   */
  private async answer(question: Question): Promise<unknown[]> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (question.kind === 'rooms') return this.bus.otherRooms();
    if (question.kind === 'public') return this.bus.otherPublicRooms();
    return this.bus.destroyElsewhere(question.rooms, question.reason);
  }

  private async askNodes<T>(question: Question): Promise<T[]> {
    const others = this.members().filter((node) => node !== this.self);
    const answers = await Promise.all(
      others.map((node) =>
        this.nats.request(this.subject(node), JSON.stringify(question), { timeout: NODE_TIMEOUT_MS }).then(
          // JSON has no undefined (a public room without a name): it came as null.
          (reply) => JSON.parse(new TextDecoder().decode(reply.data), (_, value: unknown) => (value === null ? undefined : value)) as T[],
          (err: unknown) => {
            this.log.warn({ err, node, question: question.kind }, 'a cluster node did not answer for its rooms');
            return [];
          },
        ),
      ),
    );
    return answers.flat();
  }
}
