import { test, expect, type Page } from '@playwright/test';
import { composer, log, personIn, watchForErrors } from './support/helpers';
import { OwnMariaDb, OwnRedis, OwnServer } from './support/server';

// Two nodes of one cluster (a MariaDB database and a redis-server of the test's own):
// Alice's browser talks to one node, Bob's to the other, and they chat as if on one.
test('two browsers on two nodes chat, see each other online and typing', async ({ browser }) => {
  const db = new OwnMariaDb();
  const redis = new OwnRedis();
  db.create();
  await redis.start();
  const flags = (name: string) => ['--redis-url', redis.url, '--node-name', name, '--presence-ttl', '600'];
  const a = new OwnServer({ databaseUrl: db.url, flags: flags('e2e-a') });
  const b = new OwnServer({ databaseUrl: db.url, flags: flags('e2e-b') });
  try {
    await a.start();
    await b.start();
    const alice = await personIn(browser, a.url, 'alice', 'general');
    const errors = watchForErrors(alice.page);
    const bob = await personIn(browser, b.url, 'bob', 'general');

    const online = (page: Page) => page.getByRole('complementary', { name: 'Online' });
    await expect(online(alice.page).getByText(bob.name)).toBeVisible();
    await expect(online(bob.page).getByText(alice.name)).toBeVisible();

    await composer(alice.page).pressSequentially('across');
    await expect(bob.page.getByText(`${alice.name} is typing…`)).toBeVisible();
    await composer(alice.page).press('Enter');
    await expect(log(bob.page).getByText('across')).toBeVisible();

    await composer(bob.page).fill('and back 👋');
    await composer(bob.page).press('Enter');
    await expect(log(alice.page).getByText('and back 👋')).toBeVisible();
    await expect(log(bob.page).getByText('and back 👋')).toHaveCount(1);

    // Bob's node stops (his browser stays open, trying to reconnect): Alice sees him go
    // at once, not when his presence would expire.
    await b.stop();
    await expect(online(alice.page).getByText(bob.name)).toHaveCount(0);
    await bob.context.close();
    expect(errors).toEqual([]);
    await alice.context.close();
  } finally {
    await a.stop();
    await b.stop();
    await redis.stop();
    db.drop();
  }
});
