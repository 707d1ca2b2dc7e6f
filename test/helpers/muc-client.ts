// Test support: a MUC user driving rooms by hand over any XMPP server's
// client port (Conclave's own, or a peer's when Conclave is its component).

import { randomBytes } from 'node:crypto';
import type { Element } from '../../src/xml/element.js';
import { escapeAttribute, escapeText } from '../../src/xml/escape.js';
import { RawClient } from './server.js';

const MUC = 'http://jabber.org/protocol/muc';
const MUC_ADMIN = 'http://jabber.org/protocol/muc#admin';
const MUC_OWNER = 'http://jabber.org/protocol/muc#owner';
const DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const REGISTER = 'jabber:iq:register';

export class MucTestClient {
  private constructor(readonly client: RawClient) {}

  /** Connects to `port` and logs in as `username`@localhost. */
  static async login(port: number, username: string): Promise<MucTestClient> {
    const client = await RawClient.connect(port);
    await client.login(username);
    return new MucTestClient(client);
  }

  get fullJid(): string {
    return this.client.fullJid;
  }

  /** Joins and waits for the subject, the last stanza of a join. */
  async join(room: string, nick: string): Promise<void> {
    this.client.send(`<presence to='${escapeAttribute(room + '/' + nick)}'><x xmlns='${MUC}'/></presence>`);
    const subject = await this.client.next(
      (stanza) => (stanza.name === 'message' && stanza.getChild('subject') !== undefined) || stanza.attrs.type === 'error',
    );
    if (subject.attrs.type === 'error') throw new Error(`Joining ${room} failed: ${subject.toString()}`);
  }

  /** Creates the room and submits its configuration (`field: value`; none makes it an instant room). */
  async createRoom(room: string, nick: string, config: Record<string, string> = {}): Promise<void> {
    await this.join(room, nick);
    const fields = Object.entries(config)
      .map(([name, value]) => `<field var='${escapeAttribute(name)}'><value>${escapeText(value)}</value></field>`)
      .join('');
    const form = `<field var='FORM_TYPE'><value>${MUC}#roomconfig</value></field>${fields}`;
    await this.iq('set', room, `<query xmlns='${MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'>${form}</x></query>`);
  }

  /** Leaves and resolves with the room's unavailable self-presence. */
  leave(room: string, nick: string): Promise<Element> {
    const occupant = `${room}/${nick}`;
    this.client.send(`<presence type='unavailable' to='${escapeAttribute(occupant)}'/>`);
    return this.client.next((stanza) => stanza.name === 'presence' && stanza.attrs.from === occupant && stanza.attrs.type === 'unavailable');
  }

  say(room: string, body: string): void {
    this.client.send(`<message type='groupchat' to='${escapeAttribute(room)}'><body>${escapeText(body)}</body></message>`);
  }

  /** The next groupchat message with a body from `from` (an occupant JID). */
  messageFrom(from: string): Promise<Element> {
    return this.client.next((stanza) => stanza.name === 'message' && stanza.attrs.from === from && stanza.getChild('body') !== undefined);
  }

  /** The next presence from `from` (an occupant JID). */
  presenceFrom(from: string): Promise<Element> {
    return this.client.next((stanza) => stanza.name === 'presence' && stanza.attrs.from === from);
  }

  async setAffiliation(room: string, jid: string, affiliation: string): Promise<void> {
    await this.iq('set', room, `<query xmlns='${MUC_ADMIN}'><item affiliation='${escapeAttribute(affiliation)}' jid='${escapeAttribute(jid)}'/></query>`);
  }

  async affiliationList(room: string, affiliation: string): Promise<Element[]> {
    const result = await this.iq('get', room, `<query xmlns='${MUC_ADMIN}'><item affiliation='${escapeAttribute(affiliation)}'/></query>`);
    return result.getChild('query', MUC_ADMIN)?.getChildren('item') ?? [];
  }

  async registerNick(room: string, nick: string): Promise<void> {
    const form =
      `<field var='FORM_TYPE'><value>${MUC}#register</value></field>` +
      `<field var='muc#register_roomnick'><value>${escapeText(nick)}</value></field>`;
    await this.iq('set', room, `<query xmlns='${REGISTER}'><x xmlns='jabber:x:data' type='submit'>${form}</x></query>`);
  }

  /** The nickname the room reserves for us (XEP-0045 §7.12). */
  async reservedNick(room: string): Promise<string | undefined> {
    const result = await this.iq('get', room, `<query xmlns='${DISCO_INFO}' node='x-roomuser-item'/>`);
    return result.getChild('query', DISCO_INFO)?.getChild('identity')?.attrs.name;
  }

  async roomFeatures(room: string): Promise<string[]> {
    const result = await this.iq('get', room, `<query xmlns='${DISCO_INFO}'/>`);
    return (result.getChild('query', DISCO_INFO)?.getChildren('feature') ?? []).map((feature) => feature.attrs.var);
  }

  /** Sends an iq and resolves with its result; an error answer rejects. */
  async iq(type: 'get' | 'set', to: string, payload: string): Promise<Element> {
    const id = 'iq-' + randomBytes(4).toString('hex');
    this.client.send(`<iq type='${type}' id='${id}' to='${escapeAttribute(to)}'>${payload}</iq>`);
    const reply = await this.client.reply(id);
    if (reply.attrs.type !== 'result') throw new Error(`iq ${type} to ${to} failed: ${reply.toString()}`);
    return reply;
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/**
 * Romeo creates `room`, Juliet joins, then Juliet's connection drops without
 * a word; resolves with the next presence Romeo gets from Juliet's occupant
 * JID (the server's unavailable presence for her ended session, relayed).
 */
export async function presenceAfterDroppedSession(port: number, room: string): Promise<Element> {
  const romeo = await MucTestClient.login(port, 'user');
  const juliet = await MucTestClient.login(port, 'user2');
  await romeo.createRoom(room, 'Romeo');
  await juliet.join(room, 'Juliet');
  await romeo.presenceFrom(`${room}/Juliet`);
  juliet.client.socket.destroy();
  const presence = await romeo.presenceFrom(`${room}/Juliet`);
  await romeo.close();
  return presence;
}
