// The /status page in a real browser (Debian's chromium, headless, driven by
// playwright-core) against a server with a few clients chatting in rooms: the
// charts draw what the server reports. A screenshot is kept in the test output.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { after, before, it } from 'node:test';
import { chromium, type BrowserContext } from 'playwright-core';
import { limitHit } from '../../src/ops/counters.js';
import { MucTestClient } from '../helpers/muc-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT_DIR = new URL('../../test-output/', import.meta.url).pathname;

let server: TestServer;
let browser: BrowserContext;
let profile: string;
const clients: MucTestClient[] = [];

before(async () => {
  server = await startTestServer({ http: { enabled: true, port: 0 }, muc: { shards: 2 } });
  // Two rooms: three occupants in one, one in the other.
  const enter = async (name: string, room: string, create: boolean) => {
    const client = await MucTestClient.login(server.port, name);
    if (create) await client.createRoom(`${room}@conference.localhost`, name);
    else await client.join(`${room}@conference.localhost`, name);
    clients.push(client);
  };
  await enter('ann', 'big', true);
  await enter('bob', 'big', false);
  await enter('cat', 'big', false);
  await enter('dan', 'small', true);
  for (let index = 0; index < 10; index++) clients[index % 4].client.send(`<message to='big@conference.localhost' type='groupchat'><body>${index}</body></message>`);
  // The main thread's counters are this process's: a limit hit shows as one from the server.
  limitHit('muc.max_history_messages');
  profile = await mkdtemp(join(tmpdir(), 'conclave-chromium-'));
  // A fresh profile (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});

after(async () => {
  await browser?.close();
  for (const client of clients) await client.client.close();
  await server?.close();
  if (profile !== undefined) await rm(profile, { recursive: true, force: true });
});

it('draws load per thread, sessions, rooms by size and recent limit hits', async () => {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`http://127.0.0.1:${server.httpPort}/status`);
  // Wait for a few updates, the last with both shards' load (they report once a second).
  await page.waitForFunction(
    () =>
      Number(document.body.dataset.updates) >= 3 &&
      (document.querySelector('#load .uplot') as HTMLElement | null)?.dataset.series === 'main,shard-0,shard-1',
    undefined,
    { timeout: 0, polling: 200 },
  );

  // Charts, drawn on canvases, one per section.
  for (const section of ['load', 'lag', 'sessions', 'rooms', 'limits']) {
    assert.equal(await page.locator(`#${section} canvas`).count(), 1, `a chart in #${section}`);
  }
  const legend = await page.locator('#load .u-legend').innerText();
  for (const thread of ['main', 'shard-0', 'shard-1']) assert.ok(legend.includes(thread), `the load legend names ${thread}`);

  const sessions = await page.locator('#sessions .uplot').getAttribute('data-last');
  assert.equal(sessions?.split(',')[0], '4', 'four bound sessions');

  const rooms = page.locator('#rooms .uplot');
  assert.equal(await rooms.getAttribute('data-labels'), '1,2-5,6-20,21-100,101-500,501+');
  assert.equal(await rooms.getAttribute('data-values'), '1,1,0,0,0,0', 'one room of one, one of three');

  const limits = page.locator('#limits .uplot');
  assert.equal(await limits.getAttribute('data-labels'), 'muc.max_history_messages');
  assert.equal(await limits.getAttribute('data-values'), '1');

  assert.match(await page.locator('#summary').innerText(), /^4 sessions · 2 rooms · 4 occupants · 3 threads/);
  // The charts are drawn: the load canvas has pixels that are not background.
  const inked = await page.locator('#load canvas').evaluate((canvas: HTMLCanvasElement) => {
    const pixels = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    let count = 0;
    for (let index = 3; index < pixels.length; index += 4) if (pixels[index] !== 0) count++;
    return count;
  });
  assert.ok(inked > 1000, `the load chart has ink (${inked} pixels)`);
  assert.deepEqual(errors, []);

  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const screenshot = join(SCREENSHOT_DIR, 'status-page.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`status page screenshot: ${screenshot}`);
});
