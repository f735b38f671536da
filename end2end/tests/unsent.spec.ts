import { test, expect, type Page, type BrowserContext } from '@playwright/test';
import { PASSWORD, api, composer, freshRoom, hydrated, log, personIn, register, uniqueName } from './support/helpers';
import { OwnServer } from './support/server';

/** Keeps the page's WebSocket from reaching the server while `cut.on` holds: the page
 * loads, but every connection it opens closes at once, as on a dead network. */
async function cutSocket(target: Page | BrowserContext) {
  const cut = { on: true };
  await target.routeWebSocket(/\/ws$/, (ws) => {
    if (cut.on) ws.close();
    else ws.connectToServer();
  });
  return cut;
}

async function bodies(request: import('@playwright/test').APIRequestContext, base: string, token: string, room: string) {
  const page = await api(request, base, token, 'history', { room, limit: '100' });
  return page.messages.map((m: { body: string }) => m.body);
}

test('messages typed offline survive a reload and arrive once each, in order', async ({ browser, request, baseURL }) => {
  const base = baseURL!;
  const { room, owner } = await freshRoom(request, base, 'u', 'unsent');
  const alice = await personIn(browser, base, 'offline', room);
  const cut = await cutSocket(alice.context);
  await alice.page.reload();
  await hydrated(alice.page);
  await expect(alice.page.getByRole('status').first()).toContainText(/Reconnecting|Connecting/);

  for (const text of ['first while away', 'second while away', 'third while away']) {
    await composer(alice.page).fill(text);
    await composer(alice.page).press('Enter');
  }
  await expect(log(alice.page).getByText('sending…')).toHaveCount(3);
  // A draft, too.
  await composer(alice.page).fill('half a thought');

  await alice.page.reload();
  await hydrated(alice.page);
  await expect(log(alice.page).getByText('sending…')).toHaveCount(3);
  await expect(composer(alice.page)).toHaveValue('half a thought');

  cut.on = false;
  await expect(log(alice.page).getByText('sending…')).toHaveCount(0, { timeout: 30_000 });
  for (const text of ['first while away', 'second while away', 'third while away']) {
    await expect(log(alice.page).getByText(text)).toHaveCount(1);
  }
  expect(await bodies(request, base, owner, room)).toEqual(['first while away', 'second while away', 'third while away']);
  // Nothing left to send again.
  expect(await alice.page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('banter.unsent')))).toEqual([]);
  await alice.context.close();
});

test('a message from a tab closed while the server was down arrives once the tab is back', async ({ browser }) => {
  const server = new OwnServer();
  await server.start();
  try {
    const alice = await personIn(browser, server.url, 'closer', 'general');
    await server.stop();
    await expect(alice.page.getByRole('status').first()).toContainText('Reconnecting');
    await composer(alice.page).fill('written during the outage');
    await composer(alice.page).press('Enter');
    await expect(log(alice.page).getByText('sending…')).toHaveCount(1);
    await alice.page.close();

    await server.start();
    const again = await alice.context.newPage();
    await again.goto(`${server.url}/r/general`);
    await hydrated(again);
    await expect(log(again).getByText('written during the outage')).toHaveCount(1);
    await expect(log(again).getByText('sending…')).toHaveCount(0);
    // Once in the database, however many times it was sent.
    await again.reload();
    await hydrated(again);
    await expect(log(again).getByText('written during the outage')).toHaveCount(1);
    await alice.context.close();
  } finally {
    await server.stop();
  }
});

test('two tabs of one person send a kept message once', async ({ browser, request, baseURL }) => {
  const base = baseURL!;
  const { room, owner } = await freshRoom(request, base, 't', 'two tabs');
  const alice = await personIn(browser, base, 'twotabs', room);
  const cut = await cutSocket(alice.page);
  await alice.page.reload();
  await hydrated(alice.page);
  await composer(alice.page).fill('from the first tab');
  await composer(alice.page).press('Enter');
  await expect(log(alice.page).getByText('sending…')).toHaveCount(1);

  // A second tab of the same browser finds it kept and sends it.
  const second = await alice.context.newPage();
  await second.goto(`${base}/r/${room}`);
  await hydrated(second);
  await expect(log(second).getByText('from the first tab')).toHaveCount(1);
  await expect(log(second).getByText('sending…')).toHaveCount(0);
  // The first tab reconnects and sends it again, under the same id: still one.
  cut.on = false;
  await expect(log(alice.page).getByText('sending…')).toHaveCount(0, { timeout: 30_000 });
  await expect(log(alice.page).getByText('from the first tab')).toHaveCount(1);
  expect(await bodies(request, base, owner, room)).toEqual(['from the first tab']);
  await alice.context.close();
});

test('logging out empties what was kept; the next person sees none of it', async ({ browser, request, baseURL }) => {
  const base = baseURL!;
  const { room, owner } = await freshRoom(request, base, 'l', 'log out');
  const alice = await personIn(browser, base, 'leaver', room);
  const cut = await cutSocket(alice.context);
  await alice.page.reload();
  await hydrated(alice.page);
  await composer(alice.page).fill('never to be sent');
  await composer(alice.page).press('Enter');
  await composer(alice.page).fill('a draft to forget');
  await expect(log(alice.page).getByText('sending…')).toHaveCount(1);
  await alice.page.getByRole('button', { name: 'Log out' }).click();
  await expect(alice.page.getByRole('link', { name: 'Log in' }).first()).toBeVisible();
  expect(await alice.page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('banter.unsent') || k.startsWith('banter.draft')))).toEqual([]);

  cut.on = false;
  const bob = uniqueName('next');
  await register(request, base, bob);
  await alice.page.goto(`${base}/login`);
  await alice.page.getByLabel('Username').fill(bob);
  await alice.page.getByLabel('Password').fill(PASSWORD);
  await alice.page.getByRole('button', { name: 'Log in' }).click();
  await expect(alice.page).toHaveURL(/\/r\/general$/);
  await alice.page.goto(`${base}/r/${room}`);
  await hydrated(alice.page);
  await expect(log(alice.page).getByText('sending…')).toHaveCount(0);
  await expect(composer(alice.page)).toHaveValue('');
  expect(await bodies(request, base, owner, room)).toEqual([]);
  await alice.context.close();
});
