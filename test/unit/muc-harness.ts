// A unit harness for the room core: the MUC shard application fed with parsed
// stanzas, its outbox recording every delivery. Rooms run exactly as in a
// shard worker, with LMDB in a scratch folder, but no sockets or threads.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import createMucShard from '../../src/muc/service.js';
import type { Outbox, ShardApplication, ShardEvent } from '../../src/runtime/protocol.js';
import type { Element } from '../../src/xml/element.js';
import { parseElement } from '../../src/xml/stream-parser.js';

export const ROOM = 'room@conference.localhost';

export interface Delivery {
  stanza: string;
  to: string[];
}

export class MucHarness implements Outbox {
  readonly deliveries: Delivery[] = [];
  readonly events: ShardEvent[] = [];
  /** Receipts given with stanzas and not handed back yet; and any handed back twice or never given. */
  private readonly unhandled = new Set<number>();
  private readonly receiptErrors: string[] = [];
  private nextReceipt = 0;
  private readonly waiters: { to: string; resolve(): void }[] = [];
  private app!: ShardApplication;

  private constructor(readonly dataDir: string) {}

  /** A shard of its own (or `shard` of several: harnesses on one data folder reach each other as shard workers do). */
  static async start(muc: Record<string, unknown> = {}, dataDir?: string, shard = { index: 0, count: 1 }): Promise<MucHarness> {
    const harness = new MucHarness(dataDir ?? (await mkdtemp(join(tmpdir(), 'conclave-muc-'))));
    const settings = loadConfig({ overrides: { data_dir: harness.dataDir, log_level: 'silent', muc } });
    harness.app = await createMucShard({ shardIndex: shard.index, shardCount: shard.count, settings, outbox: harness });
    return harness;
  }

  send(stanza: Element, to: string | readonly string[]): void {
    const recipients = typeof to === 'string' ? [to] : [...to];
    // Serialize now: the room may not touch a stanza after sending it, and this checks that.
    this.deliveries.push({ stanza: stanza.clone().setAttr('to', undefined).toString(), to: recipients });
    for (const waiter of this.waiters.splice(0)) {
      if (recipients.includes(waiter.to)) waiter.resolve();
      else this.waiters.push(waiter);
    }
  }

  event(event: ShardEvent): void {
    this.events.push(event);
  }

  handled(receipt: number): void {
    if (!this.unhandled.delete(receipt)) this.receiptErrors.push(`receipt ${receipt} handed back twice or never given`);
  }

  get application(): ShardApplication {
    return this.app;
  }

  /** Feeds a stanza written as XML, as a shard worker would. */
  receive(xml: string): void {
    const receipt = this.nextReceipt++;
    this.unhandled.add(receipt);
    this.app.receive(parseElement(xml), receipt);
  }

  /** What `jid` was sent since the last call, in order (and forgets it). */
  take(jid: string): Element[] {
    const out: Element[] = [];
    for (const delivery of this.deliveries) if (delivery.to.includes(jid)) out.push(parseElement(delivery.stanza));
    for (const delivery of this.deliveries) delivery.to = delivery.to.filter((to) => to !== jid);
    return out;
  }

  /** Resolves once `jid` has been sent something it has not taken yet (for replies that await a write). */
  async waitFor(jid: string): Promise<void> {
    if (this.deliveries.some((delivery) => delivery.to.includes(jid))) return;
    await new Promise<void>((resolve) => this.waiters.push({ to: jid, resolve }));
  }

  /** Joins `nick` from `jid` with a MUC <x/> and returns what the joiner got. */
  join(jid: string, nick: string, room = ROOM): Element[] {
    this.receive(`<presence from='${jid}' to='${room}/${nick}'><x xmlns='http://jabber.org/protocol/muc'/></presence>`);
    return this.take(jid);
  }

  /** Creates a room owned by `jid` and unlocks it with an instant configuration. */
  createRoom(jid: string, nick: string, room = ROOM): void {
    this.join(jid, nick, room);
    this.receive(
      `<iq from='${jid}' to='${room}' type='set' id='instant'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>`,
    );
    this.take(jid);
  }

  /**
   * A fresh harness with an unlocked room owned by the first [jid, nick] and
   * the others in it; what the joins showed the owner is taken.
   */
  static async withRoom(owner: [string, string], ...guests: [string, string][]): Promise<MucHarness> {
    const harness = await MucHarness.start();
    harness.createRoom(...owner);
    for (const [jid, nick] of guests) harness.join(jid, nick);
    harness.take(owner[0]);
    return harness;
  }

  /**
   * Closes the shard; fails when a stanza's receipt was never handed back (the
   * pool would keep it forever and answer it as lost in a crash) or came back twice.
   */
  async close(keepData = false): Promise<void> {
    await this.app.close();
    const unhandled = [...this.unhandled].map((receipt) => `receipt ${receipt} never handed back`);
    if (unhandled.length + this.receiptErrors.length > 0) throw new Error([...this.receiptErrors, ...unhandled].join('; '));
    if (!keepData) await rm(this.dataDir, { recursive: true, force: true });
  }
}

/** Shorthand for the first child element in a namespace, through a path of names. */
export function child(stanza: Element, ...path: [string, string?][]): Element | undefined {
  let current: Element | undefined = stanza;
  for (const [name, xmlns] of path) current = current?.getChild(name, xmlns);
  return current;
}

/** A submitted muc#owner configuration form from `from` with these fields (a list for several values). */
export function configSet(from: string, fields: Record<string, string | string[]>, formType = 'http://jabber.org/protocol/muc#roomconfig'): string {
  const body = Object.entries({ FORM_TYPE: formType, ...fields })
    .map(([name, values]) => `<field var='${name}'>${[values].flat().map((v) => `<value>${v}</value>`).join('')}</field>`)
    .join('');
  return `<iq from='${from}' to='${ROOM}' type='set' id='cfg'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>${body}</x></query></iq>`;
}

/** A muc#admin set from `from`, carrying `item`. */
export function adminSet(from: string, item: string, room = ROOM): string {
  return `<iq from='${from}' to='${room}' type='set' id='adm'><query xmlns='http://jabber.org/protocol/muc#admin'>${item}</query></iq>`;
}

export function statusCodes(stanza: Element): string[] {
  const x = stanza.getChild('x', 'http://jabber.org/protocol/muc#user');
  return (x?.getChildren('status') ?? []).map((status) => status.attrs.code);
}

export function errorCondition(stanza: Element): string | undefined {
  return stanza.getChild('error')?.elements().find((e) => e.name !== 'text')?.name;
}
