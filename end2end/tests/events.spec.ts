import { test, expect, type Page, type APIRequestContext, type Locator } from '@playwright/test';
import { PASSWORD, api, composer, hydrated, log, personIn, register, uniqueName, watchForErrors } from './support/helpers';

/** A fresh room made by a script, so tests do not see each other's messages. */
async function freshRoom(request: APIRequestContext, base: string): Promise<{ room: string; token: string }> {
  const token = await register(request, base, uniqueName('owner'));
  const room = uniqueName('ev').replace(/_/g, '-').slice(0, 32);
  await api(request, base, token, 'create_room', { name: room, topic: 'events' });
  return { room, token };
}

/** The message in the list that contains `text` (in its body, or in the quote of the
 * message it answers: pass its author to tell the two apart). */
const message = (page: Page, text: string | RegExp, author?: string): Locator =>
  (author ? log(page).getByRole('article', { name: author, exact: true }) : log(page).getByRole('article')).filter({ hasText: text });

test('reply, react, edit and delete, each seen live by the other', async ({ browser, request, baseURL }) => {
  const base = baseURL!;
  const { room } = await freshRoom(request, base);
  const alice = await personIn(browser, base, 'alice', room);
  const bob = await personIn(browser, base, 'bob', room);
  const errors = [alice.page, bob.page].map(watchForErrors);

  // Markdown renders as such for both: a list and a fenced code block.
  await composer(alice.page).fill('Plan for **today**:\n- ship it\n- celebrate\n\n```\nlet x = 1;\n```');
  await composer(alice.page).press('Enter');
  for (const page of [alice.page, bob.page]) {
    const plan = message(page, 'Plan for');
    await expect(plan.getByRole('listitem')).toHaveText(['ship it', 'celebrate']);
    await expect(plan.getByText('today', { exact: true })).toHaveJSProperty('tagName', 'STRONG');
    const code = plan.getByText('let x = 1;');
    await expect(code).toHaveJSProperty('tagName', 'CODE');
    expect(await code.evaluate((el) => el.parentElement?.tagName)).toBe('PRE');
  }

  // Bob replies through the message's menu; Alice sees the reply with its quote.
  await message(bob.page, 'Plan for').hover();
  await message(bob.page, 'Plan for').getByRole('button', { name: 'Reply' }).click();
  await expect(bob.page.getByText('Replying to')).toBeVisible();
  await composer(bob.page).fill('sounds good');
  await composer(bob.page).press('Enter');
  await expect(bob.page.getByText('Replying to')).toHaveCount(0);
  const quote = message(alice.page, 'sounds good').getByRole('link', { name: `In reply to ${alice.name}: show their message` });
  await expect(quote).toContainText('Plan for **today**');

  // Alice reacts with the picker; Bob adds his through the count.
  await message(alice.page, 'sounds good').hover();
  await message(alice.page, 'sounds good').getByRole('button', { name: 'React' }).click();
  await message(alice.page, 'sounds good').getByRole('button', { name: 'React with 🎉' }).click();
  const bobsChip = message(bob.page, 'sounds good').getByRole('button', { name: /^🎉 1, from / });
  await expect(bobsChip).toHaveAttribute('aria-pressed', 'false');
  await bobsChip.click();
  const twoOnAlice = message(alice.page, 'sounds good').getByRole('button', { name: /^🎉 2, from / });
  await expect(twoOnAlice).toHaveAttribute('aria-pressed', 'true');
  await expect(twoOnAlice).toHaveAttribute('title', new RegExp(`${alice.name}.* reacted with 🎉|and ${alice.name} reacted`));
  await expect(message(bob.page, 'sounds good').getByRole('button', { name: /^🎉 2, from / })).toHaveAttribute('aria-pressed', 'true');

  // Alice edits her message from its menu; Bob sees the new text, "(edited)", and his
  // reply's quote following it.
  await message(alice.page, 'Plan for', alice.name).hover();
  await message(alice.page, 'Plan for', alice.name).getByRole('button', { name: 'Edit' }).click();
  const editor = alice.page.getByRole('textbox', { name: 'Edit message' });
  await expect(editor).toBeFocused();
  await editor.fill('Plan, revised');
  await editor.press('Enter');
  await expect(message(bob.page, 'Plan, revised', alice.name).getByText('(edited)')).toBeVisible();
  await expect(message(bob.page, 'sounds good').getByRole('link', { name: /^In reply to/ })).toContainText('Plan, revised');
  await expect(log(bob.page).getByText('ship it')).toHaveCount(0);

  // Escape cancels an edit.
  await message(alice.page, 'Plan, revised', alice.name).getByRole('button', { name: 'Edit' }).click();
  await alice.page.getByRole('textbox', { name: 'Edit message' }).fill('never saved');
  await alice.page.getByRole('textbox', { name: 'Edit message' }).press('Escape');
  await expect(alice.page.getByRole('textbox', { name: 'Edit message' })).toHaveCount(0);
  await expect(composer(alice.page)).toBeFocused();
  await expect(log(alice.page).getByText('never saved')).toHaveCount(0);

  // Up in an empty composer edits your last message.
  await composer(bob.page).click();
  await composer(bob.page).press('ArrowUp');
  const bobEditor = bob.page.getByRole('textbox', { name: 'Edit message' });
  await expect(bobEditor).toHaveValue('sounds good');
  await bobEditor.fill('sounds great');
  await bobEditor.press('Enter');
  await expect(message(alice.page, 'sounds great')).toBeVisible();

  // Bob deletes his reply, after confirming; Alice sees the tombstone.
  await message(bob.page, 'sounds great').hover();
  await message(bob.page, 'sounds great').getByRole('button', { name: 'Delete' }).click();
  await bob.page.getByRole('alertdialog', { name: 'Delete this message?' }).getByRole('button', { name: 'Delete message' }).click();
  await expect(log(alice.page).getByText('message deleted')).toBeVisible();
  await expect(log(alice.page).getByText('sounds great')).toHaveCount(0);
  await expect(log(alice.page).getByRole('button', { name: /^🎉/ })).toHaveCount(0);

  expect(errors.flat()).toEqual([]);
  await alice.context.close();
  await bob.context.close();
});

test('markup typed into a message is shown as text, never run', async ({ browser, request, baseURL }) => {
  const base = baseURL!;
  const { room } = await freshRoom(request, base);
  const alice = await personIn(browser, base, 'alice', room);
  const bob = await personIn(browser, base, 'bob', room);
  let dialogs = 0;
  for (const page of [alice.page, bob.page]) page.on('dialog', async (d) => { dialogs++; await d.dismiss(); });

  const script = '<script>window.pwned = 1; alert(1)</script>';
  const image = 'see <img src=x onerror="window.pwned = 2; alert(2)"> here';
  for (const text of [script, image, '[click](javascript:alert(3))']) {
    await composer(alice.page).fill(text);
    await composer(alice.page).press('Enter');
  }
  for (const page of [bob.page, alice.page]) {
    await expect(log(page).getByText(script)).toBeVisible();
    await expect(log(page).getByText(image)).toBeVisible();
    await expect(message(page, 'click').getByRole('link')).toHaveCount(0);
    await expect(log(page).locator('img, script')).toHaveCount(0);
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
  }
  // After a reload the server renders the same, equally inert.
  await bob.page.reload();
  await hydrated(bob.page);
  await expect(log(bob.page).getByText(script)).toBeVisible();
  await expect(log(bob.page).locator('img, script')).toHaveCount(0);
  expect(dialogs).toBe(0);
  await alice.context.close();
  await bob.context.close();
});

test('a reply to an old message jumps to it, loading older history', async ({ browser, request, baseURL }) => {
  const base = baseURL!;
  const { room } = await freshRoom(request, base);
  // Three scripts, each within the flood guard's burst.
  const bots = [];
  for (let b = 0; b < 4; b++) bots.push(await register(request, base, uniqueName(`bot${b}`)));
  const first = await api(request, base, bots[0], 'post_message', { room, client_id: `${room}-first`, body: 'the very first message' });
  for (let i = 1; i < 70; i++) {
    await api(request, base, bots[Math.floor(i / 20)], 'post_message', { room, client_id: `${room}-${i}`, body: `filler ${i}` });
  }
  await api(request, base, bots[3], 'post_message', { room, client_id: `${room}-reply`, body: 'about that first one', reply_to: String(first.seq) });

  const alice = await personIn(browser, base, 'alice', room);
  // Only the newest 50 are loaded: the quote shows the first message's text, but the
  // message itself is not on the page.
  const target = alice.page.locator(`#m-${first.seq}`);
  await expect(target).toHaveCount(0);
  await message(alice.page, 'about that first one').getByRole('link', { name: /^In reply to/ }).click();
  await expect(target).toBeInViewport();
  await expect(target).toBeFocused();
  await alice.context.close();
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the room shows replies, edits, tombstones and reactions', async ({ page, request, baseURL }) => {
    const base = baseURL!;
    const { room, token } = await freshRoom(request, base);
    const name = uniqueName('reader');
    await register(request, base, name);
    const post = (id: string, body: string, extra: Record<string, string> = {}) =>
      api(request, base, token, 'post_message', { room, client_id: id, body, ...extra });
    const parent = await post('p', 'the original');
    await post('r', 'a reply', { reply_to: String(parent.seq) });
    await api(request, base, token, 'edit_message', { room, target: String(parent.seq), body: 'the original, edited', client_id: 'e' });
    await api(request, base, token, 'react', { room, target: String(parent.seq), emoji: '👍', on: 'true', client_id: 'x' });
    const gone = await post('g', 'going away');
    await api(request, base, token, 'delete_message', { room, target: String(gone.seq), client_id: 'd' });

    await page.goto('/login');
    await page.getByLabel('Username').fill(name);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.goto(`/r/${room}`);
    await expect(message(page, 'the original, edited').getByText('(edited)')).toBeVisible();
    await expect(message(page, 'the original, edited').getByRole('button', { name: /^👍 1, from / })).toBeVisible();
    await expect(message(page, 'a reply').getByRole('link', { name: /^In reply to/ })).toContainText('the original, edited');
    await expect(log(page).getByText('message deleted')).toBeVisible();
    await expect(log(page).getByText('going away')).toHaveCount(0);
  });
});
