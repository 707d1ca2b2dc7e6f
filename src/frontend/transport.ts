// What a client session reads from and writes to: the subset of a TCP socket
// it uses, so that a net.Socket (or the TLSSocket STARTTLS makes of it) is one
// as it is, and the WebSocket listener (websocket.ts) provides the same over
// RFC 7395 framing. Writes are whole elements, as the session produces them.

export interface ClientTransport {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  /** TLS already protects it (a TLSSocket, a wss:// WebSocket): no STARTTLS. */
  readonly encrypted?: boolean;
  /** Nothing more can be written. */
  readonly destroyed: boolean;
  /** Bytes written and not yet handed to the network. */
  readonly writableLength: number;
  /** A write returned false and 'drain' has not been emitted since. */
  readonly writableNeedDrain: boolean;
  write(data: string): boolean;
  /** Stops emitting 'data' until `resume()`. */
  pause(): this;
  resume(): this;
  setNoDelay(noDelay?: boolean): this;
  /** Closes our side once what was written has left. */
  end(): this;
  destroy(): this;
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'drain', listener: () => void): this;
  on(event: 'close', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  off(event: 'data', listener: (chunk: Buffer) => void): this;
  off(event: 'drain' | 'close', listener: () => void): this;
  off(event: 'error', listener: (err: Error) => void): this;
}
