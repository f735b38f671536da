import { test, expect } from '@playwright/test';
import { PASSWORD, hydrated, uniqueName, watchForErrors } from './support/helpers';

test('register, stay logged in across a reload, log out', async ({ page }) => {
  const account = page.getByRole('navigation', { name: 'Account and settings' });
  const errors = watchForErrors(page);
  const name = uniqueName('reg');
  await page.goto('/register');
  await hydrated(page);

  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();

  await expect(page).toHaveURL(/\/r\/general$/);
  await expect(page.getByText(`Logged in as ${name}`)).toBeVisible();

  await page.reload();
  await hydrated(page);
  await expect(page.getByText(`Logged in as ${name}`)).toBeVisible();

  await account.getByRole('button', { name: 'Log out' }).click();
  await expect(account.getByRole('link', { name: 'Log in' })).toBeVisible();
  await expect(page.getByText('Logged in as')).toHaveCount(0);
  await page.reload();
  await expect(account.getByRole('link', { name: 'Log in' })).toBeVisible();

  expect(errors).toEqual([]);
});

test('the registration form explains the rules while typing', async ({ page }) => {
  await page.goto('/register');
  await hydrated(page);
  const username = page.getByLabel('Username');
  await username.fill('ab');
  await expect(page.getByText('A username is 3 to 32 characters long.')).toBeVisible();
  await expect(username).toHaveAttribute('aria-invalid', 'true');
  await username.fill('abc');
  await expect(username).toHaveAttribute('aria-invalid', 'false');
  await page.getByLabel('Password').fill('short');
  await expect(page.getByText('A password is at least 8 characters long.')).toBeVisible();
});

test('a wrong password is reported next to the form', async ({ page, request }) => {
  const name = uniqueName('wrong');
  const created = await request.post('/api/register', { form: { username: name, password: PASSWORD } });
  expect(created.ok()).toBeTruthy();

  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Wrong username or password.');
  await expect(page).toHaveURL(/\/login$/);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('a user logs in with the plain form and lands in the app', async ({ page, request }) => {
    const name = uniqueName('nojs');
    const created = await request.post('/api/register', { form: { username: name, password: PASSWORD } });
    expect(created.ok()).toBeTruthy();

    await page.goto('/login');
    await page.getByLabel('Username').fill(name);
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page.getByRole('alert')).toHaveText('Wrong username or password.');

    await page.getByLabel('Username').fill(name);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page).toHaveURL(/\/r\/general$/);
    await expect(page.getByText(`Logged in as ${name}`)).toBeVisible();
    await expect(page.locator('body')).not.toHaveAttribute('data-hydrated', 'true');
  });
});
