import { expect, type Page } from '@playwright/test';

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
