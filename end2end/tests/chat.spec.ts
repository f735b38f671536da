import { test, expect, type Page } from '@playwright/test';
import { PASSWORD, composer, log, personIn, register, uniqueName, watchForErrors } from './support/helpers';
import { OwnServer } from './support/server';

test('two people chat live both ways, see who is online and typing, and scroll back', async ({ browser, request, baseURL }) => {
  const base = baseURL!;
  // A room with history longer than one page, posted by scripts (three of them, each
  // within the burst the flood guard allows).
  const room = uniqueName('r').replace(/_/g, '-').slice(0, 32);
  const bots = [];
  for (let b = 0; b < 3; b++) bots.push(await register(request, base, uniqueName(`bot${b}`)));
  const created = await request.post(`${base}/api/create_room`, {
    form: { name: room, topic: 'end-to-end' },
    headers: { Authorization: `Bearer ${bots[0]}` },
  });
  expect(created.ok()).toBeTruthy();
  for (let i = 1; i <= 60; i++) {
    const posted = await request.post(`${base}/api/post_message`, {
      form: { room, client_id: `seed-${i}`, body: `seed message ${i}` },
      headers: { Authorization: `Bearer ${bots[Math.floor((i - 1) / 20)]}` },
    });
    expect(posted.ok(), await posted.text()).toBeTruthy();
  }

  const alice = await personIn(browser, base, 'alice', room);
  const errors = watchForErrors(alice.page);
  const bob = await personIn(browser, base, 'bob', room);

  // Each sees the other online.
  const online = (page: Page) => page.getByRole('complementary', { name: 'Online' });
  await expect(online(alice.page).getByText(bob.name)).toBeVisible();
  await expect(online(bob.page).getByText(alice.name)).toBeVisible();

  // Typing shows on the other side.
  await composer(alice.page).pressSequentially('hel');
  await expect(bob.page.getByText(`${alice.name} is typing…`)).toBeVisible();

  await composer(alice.page).pressSequentially('lo bob');
  await composer(alice.page).press('Enter');
  await expect(log(bob.page).getByText('hello bob')).toBeVisible();
  await expect(log(alice.page).getByText('hello bob')).toBeVisible();
  await expect(bob.page.getByText(`${alice.name} is typing…`)).toHaveCount(0);

  await composer(bob.page).fill('hi alice 👋');
  await bob.page.getByRole('button', { name: 'Send' }).click();
  await expect(log(alice.page).getByText('hi alice 👋')).toBeVisible();
  await expect(log(bob.page).getByText('hi alice 👋')).toHaveCount(1);

  // Shift+Enter is a new line, not a send.
  await composer(bob.page).pressSequentially('line one');
  await composer(bob.page).press('Shift+Enter');
  await composer(bob.page).pressSequentially('line two');
  await expect(composer(bob.page)).toHaveValue('line one\nline two');

  // History: the first 10 seed messages are older than the page loaded.
  await expect(log(alice.page).getByText('seed message 11', { exact: true })).toBeVisible();
  await expect(log(alice.page).getByText('seed message 1', { exact: true })).toHaveCount(0);
  await log(alice.page).getByRole('button', { name: 'Load older messages' }).click();
  await expect(log(alice.page).getByText('seed message 1', { exact: true })).toBeVisible();
  await expect(log(alice.page).getByRole('button', { name: 'Load older messages' })).toHaveCount(0);

  // Alice leaves the room: she lands in #general and Bob sees her go.
  await alice.page.getByRole('button', { name: 'Leave room' }).click();
  await expect(alice.page).toHaveURL(/\/r\/general$/);
  await expect(online(bob.page).getByText(alice.name)).toHaveCount(0);
  expect(errors).toEqual([]);
  await bob.context.close();
  await alice.context.close();
});

test('after a server restart both reconnect and a message sent meanwhile arrives once', async ({ browser }) => {
  const server = new OwnServer();
  await server.start();
  try {
    const alice = await personIn(browser, server.url, 'alice', 'general');
    const bob = await personIn(browser, server.url, 'bob', 'general');
    await composer(alice.page).fill('before the restart');
    await composer(alice.page).press('Enter');
    await expect(log(bob.page).getByText('before the restart')).toBeVisible();

    await server.stop();
    await expect(alice.page.getByRole('status')).toContainText('Reconnecting');
    await expect(bob.page.getByRole('status')).toContainText('Reconnecting');

    // Sent while the server is down: shown as pending, delivered after reconnecting.
    await composer(alice.page).fill('sent during the outage');
    await composer(alice.page).press('Enter');
    await expect(log(alice.page).getByText('sending…')).toBeVisible();

    await server.start();
    await expect(alice.page.getByRole('status')).toHaveCount(0, { timeout: 30_000 });
    await expect(bob.page.getByRole('status')).toHaveCount(0, { timeout: 30_000 });
    await expect(log(bob.page).getByText('sent during the outage')).toHaveCount(1);
    await expect(log(alice.page).getByText('sent during the outage')).toHaveCount(1);
    await expect(log(alice.page).getByText('sending…')).toHaveCount(0);

    // And live traffic flows again, both ways.
    await composer(bob.page).fill('welcome back');
    await composer(bob.page).press('Enter');
    await expect(log(alice.page).getByText('welcome back')).toHaveCount(1);
    await alice.context.close();
    await bob.context.close();
  } finally {
    await server.stop();
  }
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('a user reads a room and posts with the plain form', async ({ page, request, baseURL }) => {
    const base = baseURL!;
    const name = uniqueName('nojs');
    const token = await register(request, base, name);
    const seeded = await request.post(`${base}/api/post_message`, {
      form: { room: 'general', client_id: `nojs-seed-${name}`, body: `server-rendered for ${name}` },
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(seeded.ok()).toBeTruthy();

    await page.goto('/login');
    await page.getByLabel('Username').fill(name);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page).toHaveURL(/\/r\/general$/);
    await expect(log(page).getByText(`server-rendered for ${name}`)).toBeVisible();

    await composer(page).fill(`posted without JavaScript by ${name}`);
    await page.getByRole('button', { name: 'Send' }).click();
    await expect(page).toHaveURL(/\/r\/general$/);
    await expect(log(page).getByText(`posted without JavaScript by ${name}`)).toHaveCount(1);
  });
});
