// Time to interactive of a room on a slow phone network, in headless Chromium:
// 1.6 Mbit/s down, 750 kbit/s up, 150 ms round trip, the CPU slowed 4×, through the
// DevTools protocol. A run starts with an empty cache and ends when the page has
// hydrated and the composer takes typing; it also counts every byte over the wire.
// Then one warm reload, for what a second visit costs.
//
//   node end2end/perf/tti.mjs --url http://127.0.0.1:3000 [--runs 7] [--room general]
//
// The server must run (a release build: `make release`, then
// `target/release/server --site-root target/site`). docs/benchmarks.md records runs.
import { chromium, request } from '@playwright/test';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith('--') ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []),
);
const base = args.url ?? 'http://127.0.0.1:3000';
const runs = Number(args.runs ?? 7);
const room = args.room ?? 'general';

const network = { offline: false, latency: 150, downloadThroughput: 1_600_000 / 8, uploadThroughput: 750_000 / 8 };

async function account() {
  const api = await request.newContext({ baseURL: base });
  const username = `tti_${Date.now().toString(36)}`;
  const answer = await api.post('/api/register', { form: { username, password: 'correct horse battery' } });
  if (!answer.ok()) throw new Error(`register: ${answer.status()} ${await answer.text()}`);
  const state = await api.storageState();
  await api.dispose();
  return state;
}

async function load(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', network);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });
  let bytes = 0;
  const kinds = {};
  const types = new Map();
  cdp.on('Network.responseReceived', (e) => types.set(e.requestId, e.type));
  cdp.on('Network.loadingFinished', (e) => {
    bytes += e.encodedDataLength;
    const kind = types.get(e.requestId) ?? 'Other';
    kinds[kind] = (kinds[kind] ?? 0) + e.encodedDataLength;
  });
  cdp.on('Network.webSocketCreated', () => (kinds.WebSocket = (kinds.WebSocket ?? 0) + 0));
  const started = performance.now();
  await page.goto(`${base}/r/${room}`, { waitUntil: 'commit' });
  await page.locator('body[data-hydrated="true"]').waitFor({ timeout: 120_000 });
  // The room's own part hydrates after the page's: the composer's file field is hidden
  // (replaced by its button) only once it runs; then a keystroke must land.
  await page.locator('.composer input[name="files"].visually-hidden').waitFor({ state: 'attached', timeout: 120_000 });
  const box = page.getByRole('textbox', { name: /^Message / });
  // (A second visit finds the first one's draft there: the keystroke adds to it.)
  const before = await box.inputValue();
  await box.press('x');
  await page.waitForFunction((want) => document.querySelector('#composer-body')?.value === want, `${before}x`, { timeout: 120_000 });
  const ms = performance.now() - started;
  await cdp.detach();
  return { ms, bytes, kinds };
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const storageState = await account();
const cold = [];
let warm;
for (let i = 0; i < runs; i++) {
  const context = await browser.newContext({ storageState });
  const page = await context.newPage();
  cold.push(await load(context, page));
  if (i === runs - 1) warm = await load(context, page);
  await context.close();
}
await browser.close();
const times = cold.map((r) => r.ms).sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
const kb = (n) => `${(n / 1000).toFixed(1)} KB`;
console.log(`tti: ${runs} cold loads of /r/${room} at 1.6 Mbit/s, 150 ms RTT, CPU ×4`);
console.log(`tti: median ${(median / 1000).toFixed(2)} s, worst ${(times[times.length - 1] / 1000).toFixed(2)} s, best ${(times[0] / 1000).toFixed(2)} s`);
console.log(`tti: first load ${kb(cold[0].bytes)} over the wire: ${Object.entries(cold[0].kinds).map(([k, v]) => `${k} ${kb(v)}`).join(', ')}`);
console.log(`tti: second load ${kb(warm.bytes)} (${(warm.ms / 1000).toFixed(2)} s): ${Object.entries(warm.kinds).map(([k, v]) => `${k} ${kb(v)}`).join(', ')}`);
