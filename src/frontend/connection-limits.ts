// Connections per address (issue 11): the listener counts open connections by
// remote address and refuses one past `client.max_connections_per_ip`, except
// from the exempt addresses (a reverse proxy, a benchmark on loopback).

import { BlockList, isIPv6 } from 'node:net';
import type { Settings } from '../config/load.js';

export class ConnectionsPerAddress {
  private readonly open = new Map<string, number>();
  private readonly exempt = new BlockList();

  constructor(private readonly settings: Settings) {
    for (const address of settings.client.connection_limit_exempt) {
      this.exempt.addAddress(address, isIPv6(address) ? 'ipv6' : 'ipv4');
    }
  }

  /** Counts a new connection from `address`; false when it is one too many (and is not counted). */
  admit(address: string): boolean {
    const max = this.settings.client.max_connections_per_ip;
    if (max === 0 || this.isExempt(address)) return true;
    const count = this.open.get(address) ?? 0;
    if (count >= max) return false;
    this.open.set(address, count + 1);
    return true;
  }

  /** An admitted connection from `address` closed. */
  release(address: string): void {
    const count = this.open.get(address);
    if (count === undefined) return;
    if (count <= 1) this.open.delete(address);
    else this.open.set(address, count - 1);
  }

  private isExempt(address: string): boolean {
    return this.exempt.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
  }
}
