import { test, expect, type BrowserContext, type Page } from '@playwright/test';
import { api, composer, hydrated, log, personIn, register, uniqueName, watchForErrors } from './support/helpers';

/**
 * Makes the page's tab look hidden or shown on demand, and records every browser
 * notification it raises (the real ones are still created: the permission is granted).
 */
async function recordNotifications(context: BrowserContext) {
  await context.grantPermissions(['notifications']);
  await context.addInitScript(() => {
    const w = window as any;
    w.__shown = [];
    w.__hidden = false;
    const Real = w.Notification;
    class Recording extends Real {
      constructor(title: string, options?: NotificationOptions) {
        super(title, options);
        w.__shown.push({ title, body: options?.body ?? '' });
      }
    }
    Object.defineProperty(Recording, 'permission', { get: () => Real.permission });
    (Recording as any).requestPermission = (...args: unknown[]) => Real.requestPermission(...args);
    w.Notification = Recording;
    Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => w.__hidden });
    Object.defineProperty(Document.prototype, 'visibilityState', {
      configurable: true,
      get: () => (w.__hidden ? 'hidden' : 'visible'),
    });
  });
}

async function setHidden(page: Page, hidden: boolean) {
  await page.evaluate((hidden) => {
    (window as any).__hidden = hidden;
    document.dispatchEvent(new Event('visibilitychange', { bubbles: true }));
  }, hidden);
}

const sidebar = (page: Page) => page.getByRole('navigation', { name: 'Rooms' });

test('a direct message notifies a hidden tab, counts as unread, and opens at a divider', async ({ browser, baseURL }) => {
  const base = baseURL!;
  const alice = await personIn(browser, base, 'alice', 'general');
  const errors = watchForErrors(alice.page);
  const bobContext = await browser.newContext();
  await recordNotifications(bobContext);
  const bob = await (async () => {
    const page = await bobContext.newPage();
    const name = uniqueName('bob');
    await page.goto(`${base}/register`);
    await hydrated(page);
    await page.getByLabel('Username').fill(name);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect(page).toHaveURL(/\/r\/general$/);
    await hydrated(page);
    return { page, name };
  })();

  // The permission is asked for only on a click.
  await bob.page.getByRole('button', { name: 'Enable notifications' }).click();
  await expect(bob.page.getByRole('button', { name: 'Turn notifications off' })).toBeVisible();
  await setHidden(bob.page, true);

  // Alice starts a conversation from "New message", completing bob's name.
  await sidebar(alice.page).getByText('New message').click();
  await sidebar(alice.page).getByLabel('To (usernames, comma-separated)').fill(bob.name);
  await sidebar(alice.page).getByRole('button', { name: 'Start conversation' }).click();
  await expect(alice.page).toHaveURL(/\/r\/@[0-9a-f]+$/);
  await expect(alice.page.getByRole('heading', { level: 1 })).toHaveText(bob.name);
  await composer(alice.page).fill('psst, are you there?');
  await composer(alice.page).press('Enter');
  await expect(log(alice.page).getByText('psst, are you there?')).toBeVisible();

  // Bob's hidden tab raises a notification, and the title counts it.
  await expect
    .poll(() => bob.page.evaluate(() => (window as any).__shown))
    .toContainEqual({ title: alice.name, body: 'psst, are you there?' });
  const dm = sidebar(bob.page).getByRole('link', { name: new RegExp(alice.name) });
  await expect(dm.getByLabel('1 unread')).toBeVisible();
  await expect(bob.page).toHaveTitle(/^\(1\) /);

  // A second message, then bob comes back and opens the conversation: the divider
  // sits before the first unread message, and reading clears the count.
  await composer(alice.page).fill('second thing');
  await composer(alice.page).press('Enter');
  await expect(dm.getByLabel('2 unread')).toBeVisible();
  await setHidden(bob.page, false);
  await dm.click();
  const divider = log(bob.page).getByRole('separator', { name: 'New messages' });
  await expect(divider).toBeVisible();
  const order = await log(bob.page).evaluate((list) =>
    Array.from(list.querySelectorAll('.new-divider, .message .body')).map((n) => n.textContent?.trim()),
  );
  expect(order.indexOf('New messages')).toBe(order.indexOf('psst, are you there?') - 1);
  await expect(dm.getByLabel(/unread/)).toHaveCount(0);
  await expect(bob.page).not.toHaveTitle(/^\(/);

  // The same people get the same conversation back.
  await sidebar(bob.page).getByText('New message').click();
  await sidebar(bob.page).getByLabel('To (usernames, comma-separated)').fill(alice.name);
  const url = alice.page.url().replace(base, '');
  await sidebar(bob.page).getByRole('button', { name: 'Start conversation' }).click();
  await expect(bob.page).toHaveURL(new RegExp(`${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
  expect(errors).toEqual([]);
  await alice.context.close();
  await bobContext.close();
});

test('@-completion fills in a name, and the mention is highlighted for its person', async ({ browser, baseURL }) => {
  const base = baseURL!;
  const bob = await personIn(browser, base, 'bobby', 'general');
  const alice = await personIn(browser, base, 'alice', 'general');
  await composer(alice.page).pressSequentially(`thanks @${bob.name.slice(0, 7)}`);
  const option = alice.page.getByRole('option', { name: `@${bob.name}` });
  await expect(option).toBeVisible();
  await composer(alice.page).press('Tab');
  await expect(composer(alice.page)).toHaveValue(`thanks @${bob.name} `);
  await composer(alice.page).pressSequentially('for the review');
  await composer(alice.page).press('Enter');
  const mention = log(bob.page).locator('.message', { hasText: 'for the review' });
  await expect(mention).toHaveClass(/mentions-me/);
  await expect(log(alice.page).locator('.message', { hasText: 'for the review' })).not.toHaveClass(/mentions-me/);
  // It is in bob's Mentions view, which opens the room at it.
  await bob.page.goto(`${base}/mentions`);
  await bob.page.getByRole('link', { name: /for the review/ }).click();
  await expect(log(bob.page).getByText('for the review')).toBeVisible();
  await alice.context.close();
  await bob.context.close();
});

test('search finds an old message with its words marked and jumps to it', async ({ browser, request, baseURL }) => {
  const base = baseURL!;
  const room = uniqueName('s').replace(/_/g, '-').slice(0, 32);
  const bots: string[] = [];
  for (let b = 0; b < 6; b++) bots.push(await register(request, base, uniqueName(`sbot${b}`)));
  await api(request, base, bots[0], 'create_room', { name: room, topic: 'search' });
  const word = `zebra${Date.now().toString(36)}`;
  for (let i = 1; i <= 120; i++) {
    const body = i === 3 ? `the ${word} crossing is closed` : `filler message ${i}`;
    await api(request, base, bots[Math.floor((i - 1) / 20)], 'post_message', { room, client_id: `s-${i}`, body });
  }
  const alice = await personIn(browser, base, 'alice', room);
  await expect(log(alice.page).getByText('filler message 120')).toBeVisible();
  await expect(log(alice.page).getByText(word, { exact: false })).toHaveCount(0);

  await alice.page.getByRole('searchbox', { name: 'Search messages' }).fill(`${word.slice(0, 8)} in:#${room}`);
  await alice.page.getByRole('searchbox', { name: 'Search messages' }).press('Enter');
  await expect(alice.page).toHaveURL(/\/search\?q=/);
  const hit = alice.page.getByRole('link', { name: new RegExp(`${word} crossing`) });
  await expect(hit).toBeVisible();
  await expect(hit.locator('mark')).toHaveText(word.slice(0, 8));
  await hit.click();
  await expect(alice.page).toHaveURL(new RegExp(`/r/${room}\\?at=3$`));
  const old = log(alice.page).locator('.message', { hasText: `${word} crossing` });
  await expect(old).toBeVisible();
  await expect(old).toBeInViewport();
  await alice.context.close();
});

test('a private room is invisible to a third person', async ({ browser, baseURL }) => {
  const base = baseURL!;
  const alice = await personIn(browser, base, 'alice', 'general');
  const bob = await personIn(browser, base, 'bob', 'general');
  const carol = await personIn(browser, base, 'carol', 'general');
  const room = uniqueName('p').replace(/_/g, '-').slice(0, 32);

  await sidebar(alice.page).getByText('New room').click();
  await sidebar(alice.page).getByLabel('Name', { exact: true }).fill(room);
  await sidebar(alice.page).getByLabel(/Private/).check();
  await sidebar(alice.page).getByRole('button', { name: 'Create room' }).click();
  await expect(alice.page).toHaveURL(new RegExp(`/r/${room}$`));
  await hydrated(alice.page);
  await alice.page.getByRole('button', { name: 'Members' }).click();
  await alice.page.getByRole('textbox', { name: 'Invite' }).fill(bob.name);
  await alice.page.getByRole('button', { name: 'Invite' }).click();
  await expect(alice.page.locator('.people').getByText(bob.name)).toBeVisible();
  await composer(alice.page).fill('the secret plan');
  await composer(alice.page).press('Enter');

  // Bob's sidebar gains the room without a reload; carol's never shows it.
  await expect(sidebar(bob.page).getByRole('link', { name: new RegExp(room) })).toBeVisible();
  await sidebar(bob.page).getByRole('link', { name: new RegExp(room) }).click();
  await expect(log(bob.page).getByText('the secret plan')).toBeVisible();
  await expect(sidebar(carol.page).getByRole('link', { name: new RegExp(room) })).toHaveCount(0);
  await carol.page.goto(`${base}/r/${room}`);
  await expect(carol.page.getByRole('alert')).toContainText(`There is no room named "${room}"`);
  await carol.page.goto(`${base}/search?q=secret+plan`);
  await expect(carol.page.getByText('No messages match.')).toBeVisible();
  await alice.context.close();
  await bob.context.close();
  await carol.context.close();
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('unread and mention counts are right on the first server-rendered page', async ({ page, request, baseURL }) => {
    const base = baseURL!;
    const aliceName = uniqueName('alice');
    const bobName = uniqueName('bob');
    const alice = await register(request, base, aliceName);
    await register(request, base, bobName);
    const room = uniqueName('c').replace(/_/g, '-').slice(0, 32);
    await api(request, base, alice, 'create_room', { name: room, private: 'true' });
    await api(request, base, alice, 'invite', { room, username: bobName });
    await api(request, base, alice, 'post_message', { room, client_id: 'u1', body: 'first news' });
    await api(request, base, alice, 'post_message', { room, client_id: 'u2', body: `@${bobName} your turn` });

    await page.goto(`${base}/login`);
    await page.getByLabel('Username').fill(bobName);
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page).toHaveURL(/\/r\/general$/);
    const link = sidebar(page).getByRole('link', { name: new RegExp(room) });
    await expect(link.getByLabel('2 unread')).toBeVisible();
    await expect(link.getByLabel('1 mention', { exact: true })).toBeVisible();
    await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');
  });
});
