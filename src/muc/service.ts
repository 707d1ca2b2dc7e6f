// PLACEHOLDER for the MUC engineer, who owns this file: it exists only so the
// shard worker (src/runtime/shard-worker.ts) compiles against `createMucShard`.
// Replace it wholesale with the real service.

import type { ShardApplicationFactory } from '../runtime/protocol.js';

export const createMucShard: ShardApplicationFactory = async () => ({
  receive() {},
  inspect() {
    return undefined;
  },
  stall() {},
  async close() {},
});
