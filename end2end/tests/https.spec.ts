import { test, expect } from '@playwright/test';
import { composer, log, personIn, watchForErrors } from './support/helpers';
import { OwnServer } from './support/server';

// The server terminating TLS itself (a certificate made for this test, which the
// browsers are told to accept): two browsers register, hydrate, and chat over wss; the
// session cookie is Secure and the pages come with HSTS.
test('two browsers chat over https and wss', async ({ browser }) => {
  const server = new OwnServer({ tls: true });
  try {
    await server.start();
    expect(server.url).toMatch(/^https:/);
    const options = { ignoreHTTPSErrors: true };
    const alice = await personIn(browser, server.url, 'alice', 'general', options);
    const errors = watchForErrors(alice.page);
    const bob = await personIn(browser, server.url, 'bob', 'general', options);

    const cookies = await alice.context.cookies(server.url);
    const session = cookies.find((cookie) => cookie.name === 'banter_session');
    expect(session?.secure).toBe(true);
    expect(session?.httpOnly).toBe(true);

    const response = await alice.page.request.get(`${server.url}/healthz`);
    expect(response.headers()['strict-transport-security']).toBe('max-age=63072000');

    await composer(alice.page).fill('sent over wss');
    await composer(alice.page).press('Enter');
    await expect(log(bob.page).getByText('sent over wss')).toBeVisible();
    await composer(bob.page).fill('and answered');
    await composer(bob.page).press('Enter');
    await expect(log(alice.page).getByText('and answered')).toBeVisible();

    expect(errors).toEqual([]);
    await alice.context.close();
    await bob.context.close();
  } finally {
    await server.stop();
  }
});
