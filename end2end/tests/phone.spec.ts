import { test, expect, type Page } from '@playwright/test';
import { api, composer, hydrated, log, personIn, register, uniqueName } from './support/helpers';

const phone = (width: number) => ({
  viewport: { width, height: 740 },
  hasTouch: true,
  isMobile: true,
});

/** How far the page reaches past the phone's `width` (a phone browser widens its layout
 * to fit what overflows, so the window's own width would not tell). */
const sideways = (page: Page, width: number) =>
  page.evaluate(
    (width) =>
      Math.max(document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth) - width,
    width,
  );

for (const width of [320, 360, 390, 430]) {
  test(`at ${width} px the room fills the screen and nothing scrolls sideways, light and dark`, async ({ browser, request, baseURL }) => {
    const base = baseURL!;
    const bot = await register(request, base, uniqueName('wide'));
    // What tends to push a page wider than a phone: long words, long links, code.
    await api(request, base, bot, 'post_message', {
      room: 'general',
      client_id: uniqueName('long'),
      body: `${'Supercalifragilisticexpialidocious'.repeat(4)} https://example.com/${'a-very-long-path/'.repeat(8)}\n\n\`\`\`\nfn a_rather_long_line_of_code_that_goes_on(and_on: u32, and_on_again: u64) -> Result<(), Error> {}\n\`\`\``,
    });
    const alice = await personIn(browser, base, 'phone', 'general', { ...phone(width), colorScheme: 'light' });
    // The widest header an account has: an admin's (its Admin link).
    await alice.page.evaluate(() => {
      const admin = document.createElement('a');
      admin.href = '/admin';
      admin.textContent = 'Admin';
      document.querySelector('.header-actions')!.prepend(admin);
    });
    await expect(log(alice.page).getByText('Supercalifragilistic', { exact: false }).first()).toBeVisible();
    for (const colorScheme of ['light', 'dark'] as const) {
      await alice.page.emulateMedia({ colorScheme });
      await expect.poll(() => sideways(alice.page, width), `${width} px, ${colorScheme}`).toBeLessThanOrEqual(0);
      // The drawers are shut, the composer is on screen.
      await expect(alice.page.getByRole('navigation', { name: 'Rooms' })).toBeHidden();
      await expect(alice.page.getByRole('complementary', { name: 'Online' })).toBeHidden();
      await expect(composer(alice.page)).toBeInViewport();
    }
    await alice.context.close();
  });
}

test('on a phone the rooms and people open as drawers, and controls are big enough for a finger', async ({ browser, request, baseURL }) => {
  const base = baseURL!;
  const room = uniqueName('p').replace(/_/g, '-').slice(0, 32);
  const bot = await register(request, base, uniqueName('pbot'));
  await api(request, base, bot, 'create_room', { name: room, topic: 'on a phone' });
  const alice = await personIn(browser, base, 'drawer', room, phone(390));
  const page = alice.page;
  await composer(page).fill('hello from a phone');
  await composer(page).press('Enter');
  await expect(log(page).getByText('hello from a phone')).toBeVisible();

  // Fingers: 44 px at least.
  for (const control of [
    page.getByRole('button', { name: 'Rooms' }),
    page.getByRole('button', { name: 'People' }),
    page.getByRole('button', { name: 'Send' }),
    page.locator('.composer .attach'),
  ]) {
    const box = await control.boundingBox();
    expect(box!.height, await control.textContent()).toBeGreaterThanOrEqual(44);
  }

  // The message menu opens with a long press (the context menu event of a touch).
  const message = log(page).getByRole('article').filter({ hasText: 'hello from a phone' });
  await message.dispatchEvent('contextmenu');
  const toolbar = message.getByRole('toolbar', { name: 'Message actions' });
  await expect.poll(() => toolbar.evaluate((el) => getComputedStyle(el).opacity)).toBe('1');

  // Unread elsewhere shows on the Rooms button.
  await page.goto(`${base}/r/general`);
  await hydrated(page);
  await api(request, base, bot, 'post_message', { room, client_id: uniqueName('elsewhere'), body: 'meanwhile in the other room' });
  await expect(page.getByRole('button', { name: /Rooms/ })).toContainText('1');

  // The room list is a drawer: opened from the header, closed by choosing a room.
  const rooms = page.getByRole('navigation', { name: 'Rooms' });
  await page.getByRole('button', { name: /Rooms/ }).click();
  await expect(rooms).toBeVisible();
  await expect(rooms).toBeInViewport();
  await rooms.getByRole('link', { name: new RegExp(room) }).click();
  await expect(page).toHaveURL(new RegExp(`/r/${room}$`));
  await expect(rooms).toBeHidden();
  await expect(log(page).getByText('meanwhile in the other room')).toBeVisible();

  // People: a drawer from the other side; Escape closes it.
  await page.getByRole('button', { name: 'People' }).click();
  const people = page.getByRole('complementary', { name: 'Online' });
  await expect(people).toBeVisible();
  await expect(people.getByText(alice.name)).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(people).toBeHidden();
  await alice.context.close();
});

test('the app can be installed: a manifest, icons and theme colours', async ({ page, request, baseURL }) => {
  const base = baseURL!;
  await page.goto('/');
  const href = await page.locator('link[rel="manifest"]').getAttribute('href');
  expect(href).toBe('/manifest.webmanifest');
  const themes = await page.locator('meta[name="theme-color"]').evaluateAll((metas) =>
    metas.map((m) => [m.getAttribute('media'), m.getAttribute('content')]),
  );
  expect(themes).toEqual([
    ['(prefers-color-scheme: light)', '#ffffff'],
    ['(prefers-color-scheme: dark)', '#17171c'],
  ]);
  const manifest = await (await request.get(`${base}${href}`)).json();
  expect(manifest.display).toBe('standalone');
  for (const icon of manifest.icons.filter((i: { type: string }) => i.type === 'image/png')) {
    const response = await request.get(`${base}${icon.src}`);
    expect(response.status()).toBe(200);
    expect(response.headers()['content-type']).toBe('image/png');
    const bytes = await response.body();
    const [w, h] = [bytes.readUInt32BE(16), bytes.readUInt32BE(20)];
    expect(`${w}x${h}`).toBe(icon.sizes);
  }
});
