// `conclave start [--config FILE] [--profile NAME]`: runs the server until
// SIGINT or SIGTERM, then shuts it down cleanly.

import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.js';
import { startServer } from '../frontend/server.js';

export async function main(args: string[]): Promise<number> {
  let options;
  try {
    options = parseArgs({ args, options: { config: { type: 'string' }, profile: { type: 'string' } } }).values;
  } catch (err) {
    console.error(`conclave start: ${(err as Error).message}\nusage: conclave start [--config FILE] [--profile NAME]`);
    return 2;
  }
  let server;
  try {
    const settings = loadConfig({ file: options.config, profile: options.profile });
    server = await startServer(settings);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  const { settings } = server;
  if (settings.client.enabled) {
    console.log(`Conclave for ${settings.domain} listening on ${settings.client.host}:${server.port}`);
  }
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  console.log(`${signal}: shutting down`);
  await server.close();
  return 0;
}
