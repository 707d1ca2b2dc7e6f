// The HTTP listener (`http:` config): /metrics for Prometheus, /health and
// /ready for orchestrators, and /status, a live page for admins. It also
// samples the main thread's load once a second (the shard workers sample
// theirs while it runs: see shard-worker.ts).

import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { isLoopback, localAccountJid } from '../frontend/auth.js';
import { listenRefusal } from '../frontend/listener.js';
import { prepJid } from '../jid/jid.js';
import type { Logger } from '../log.js';
import { metricsRegistry } from './metrics.js';
import { readiness, type ServerParts } from './parts.js';
import { statusData } from './status.js';
import { LOAD_SAMPLE_MS } from './thread-load.js';

const STATUS_DIR = new URL('../../../ops/status/', import.meta.url);
const require = createRequire(import.meta.url);

/** The status page's files, read once: the page, its script, and uPlot (served from node_modules, no CDN). */
const STATIC_FILES: Record<string, { file: string | URL; type: string }> = {
  '/status': { file: new URL('index.html', STATUS_DIR), type: 'text/html; charset=utf-8' },
  '/status/status.js': { file: new URL('status.js', STATUS_DIR), type: 'text/javascript; charset=utf-8' },
  '/status/uPlot.js': { file: require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/status/uPlot.css': { file: require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

export class HttpListener {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly stopSampling: () => void,
  ) {}

  static listen(parts: ServerParts, log: Logger): Promise<HttpListener> {
    const { host, port } = parts.settings.http;
    const registry = metricsRegistry(parts);
    const files = new Map(Object.entries(STATIC_FILES).map(([path, { file, type }]) => [path, { body: readFileSync(file), type }]));
    const adminOnly = !isLoopback(host);
    const server = createServer((request, response) => {
      void route(request, response).catch((err: unknown) => {
        log.error({ err, url: request.url }, 'HTTP request failed');
        if (!response.headersSent) send(response, 500, 'text/plain', 'internal error\n');
        else response.destroy();
      });
    });
    const route = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
      const path = new URL(request.url ?? '/', 'http://x').pathname;
      if (request.method !== 'GET' && request.method !== 'HEAD') return send(response, 405, 'text/plain', 'GET only\n');
      if (path === '/health') return send(response, 200, 'application/json', JSON.stringify({ live: true }) + '\n');
      if (path === '/ready') {
        const state = readiness(parts);
        return send(response, state.ready ? 200 : 503, 'application/json', JSON.stringify(state) + '\n');
      }
      if (path === '/metrics') return send(response, 200, registry.contentType, await registry.metrics());
      if (path === '/status' || path.startsWith('/status/')) {
        if (adminOnly && !(await isAdmin(parts, request.headers.authorization))) {
          response.setHeader('WWW-Authenticate', 'Basic realm="Conclave status", charset="UTF-8"');
          return send(response, 401, 'text/plain', 'The status page needs the login of a service admin (muc.admins)\n');
        }
        if (path === '/status/data') return send(response, 200, 'application/json', JSON.stringify(statusData(parts)));
        const file = files.get(path);
        if (file !== undefined) return send(response, 200, file.type, file.body);
      }
      send(response, 404, 'text/plain', 'not found: try /metrics, /health, /ready or /status\n');
    };
    const sampler = setInterval(() => parts.mainLoad.sample(), LOAD_SAMPLE_MS);
    sampler.unref();
    const stopSampling = () => {
      clearInterval(sampler);
      parts.mainLoad.stop();
    };
    return new Promise((resolve, reject) => {
      server.once('error', (err) => {
        stopSampling();
        // A busy or foreign address is the configuration's fault: say which keys.
        reject(listenRefusal(err, host, port, 'http.host, http.port'));
      });
      server.listen({ host, port }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => log.error({ err }, 'HTTP listener error'));
        const address = server.address();
        resolve(new HttpListener(server, typeof address === 'object' && address ? address.port : port, stopSampling));
      });
    });
  }

  async close(): Promise<void> {
    this.stopSampling();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}

function send(response: ServerResponse, status: number, type: string, body: string | Buffer): void {
  response.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
  response.end(body);
}

/**
 * HTTP basic with an internal account that is a service admin (`muc.admins`):
 * the username is the bare JID or the localpart on `domain`. The insecure back
 * end would take any password, so off loopback it admits no one.
 */
async function isAdmin(parts: ServerParts, authorization: string | undefined): Promise<boolean> {
  const { settings, auth } = parts;
  if (settings.auth.backend !== 'internal' || authorization?.startsWith('Basic ') !== true) return false;
  const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  const username = decoded.slice(0, colon);
  const account = username.includes('@') ? prepJid(username) : localAccountJid(username, settings.domain);
  if (account === undefined || account === null) return false;
  const admins = settings.muc.admins.map((admin) => prepJid(admin) ?? admin);
  return admins.includes(account) && (await auth.verifyPassword(account, decoded.slice(colon + 1)));
}
