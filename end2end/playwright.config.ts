import { defineConfig } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

// Worker processes load this file again; everything chosen here is put in the
// environment they inherit, so all of them agree on one server.
function once(name: string, make: () => string): string {
  process.env[name] ??= make();
  return process.env[name]!;
}

const freePort = () =>
  execFileSync(process.execPath, [
    '-e',
    "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})",
  ])
    .toString()
    .trim();

// Every test signs its people up from 127.0.0.1; the sign-up limits per address and
// per server have tests of their own (server/tests/integration/bounds.rs). The servers the tests
// start inherit this environment.
process.env.BANTER_REGISTRATIONS_PER_ADDRESS ??= '1000000';
process.env.BANTER_REGISTRATIONS ??= '1000000';
// The servers' access log (a line per request, static files too) would drown the
// test report; warnings and errors still show.
process.env.BANTER_LOG ??= 'info,tower_http=warn';

const targetDir = process.env.CARGO_TARGET_DIR ?? path.join(__dirname, '..', 'target');
const port = once('BANTER_E2E_PORT', freePort);
const dataDir = once('BANTER_E2E_DATA', () => mkdtempSync(path.join(tmpdir(), 'banter-e2e-')));
const serverBin = process.env.BANTER_SERVER_BIN ?? path.join(targetDir, 'debug', 'server');
const siteRoot = process.env.LEPTOS_SITE_ROOT ?? path.join(__dirname, '..', 'target', 'site');

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: process.env.CI ? [['list']] : [['list'], ['html', { open: 'never' }]],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
  webServer: {
    command: `"${serverBin}" --addr 127.0.0.1:${port} --database-url "sqlite://${dataDir}/e2e.db" --site-root "${siteRoot}"`,
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    stderr: 'pipe',
  },
});
