import { expect, type APIRequestContext, type Browser, type BrowserContextOptions, type Page } from '@playwright/test';

export const PASSWORD = 'correct horse battery';

/** A username no other test has used on this server (3–32 of a-z 0-9 _ . -). */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
}

/** Waits until the wasm has hydrated the page, so that clicks reach Rust handlers. */
export async function hydrated(page: Page): Promise<void> {
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

/** Collects console errors and uncaught exceptions; assert it is empty at the end. */
export function watchForErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(err.message));
  return errors;
}

/** Registers `name` through the API, as a script would, and returns its bearer token. */
export async function register(request: APIRequestContext, base: string, name: string): Promise<string> {
  const response = await request.post(`${base}/api/register`, { form: { username: name, password: PASSWORD } });
  expect(response.ok()).toBeTruthy();
  return (await response.json()).token;
}

/** Calls a server function with a bearer token and returns its JSON answer. */
export async function api(request: APIRequestContext, base: string, token: string, endpoint: string, form: Record<string, string>) {
  const response = await request.post(`${base}/api/${endpoint}`, { form, headers: { Authorization: `Bearer ${token}` } });
  expect(response.ok(), `${endpoint}: ${await response.text()}`).toBeTruthy();
  return response.json();
}

/** A public room of its own, made by a fresh account: its name and the owner's token. */
export async function freshRoom(request: APIRequestContext, base: string, prefix: string, topic: string) {
  const room = uniqueName(prefix).replace(/_/g, '-').slice(0, 32);
  const owner = await register(request, base, uniqueName('owner'));
  await api(request, base, owner, 'create_room', { name: room, topic });
  return { room, owner };
}

/** A browser context of its own, registered as a fresh user through the form, on `room`. */
export async function personIn(
  browser: Browser,
  base: string,
  prefix: string,
  room: string,
  options: BrowserContextOptions = {},
) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const name = uniqueName(prefix);
  await page.goto(`${base}/register`);
  await hydrated(page);
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(/\/r\/general$/);
  if (room !== 'general') await page.goto(`${base}/r/${room}`);
  await hydrated(page);
  return { context, page, name };
}

/** The room's message list, and its composer. */
export const log = (page: Page) => page.getByRole('log');
export const composer = (page: Page) => page.getByRole('textbox', { name: /^Message / });
