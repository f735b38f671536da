import { test, expect, type Page } from '@playwright/test';
import { deflateSync } from 'node:zlib';
import { PASSWORD, api, composer, freshRoom, hydrated, log, personIn, register, uniqueName, watchForErrors } from './support/helpers';

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A real PNG of `width`×`height`: red left half, blue right half. */
function png(width: number, height: number): Buffer {
  const chunk = (kind: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(kind, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour
  const row = Buffer.alloc(1 + width * 3);
  for (let x = 0; x < width; x++) row.set(x < width / 2 ? [255, 0, 0] : [0, 0, 255], 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A DataTransfer in the page holding one file, for a drop or a paste. */
async function transfer(page: Page, name: string, type: string, bytes: Buffer) {
  return page.evaluateHandle(
    ({ name, type, b64 }) => {
      const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([data], name, { type }));
      return dt;
    },
    { name, type, b64: bytes.toString('base64') },
  );
}

/** The page's uploads (`POST /api/files?…`), for routing them. */
const isUpload = (url: URL) => url.pathname === '/api/files';

/** Holds every upload the page sends until `release` is called; `stop` ends the hold. */
async function holdUploads(page: Page) {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const handler = async (route: import('@playwright/test').Route) => {
    await held;
    // A request the page cancelled meanwhile is handled already.
    await route.continue().catch(() => {});
  };
  await page.route(isUpload, handler);
  return { release, stop: () => page.unroute(isUpload, handler) };
}

test('an image dropped and one pasted reach the other person live, open in the viewer, and download', async ({ browser, request, baseURL }) => {
  const base = baseURL!;
  const { room } = await freshRoom(request, base, 'f', 'files');
  const alice = await personIn(browser, base, 'alice', room);
  const errors = watchForErrors(alice.page);
  const bob = await personIn(browser, base, 'bob', room);

  // Dropped on the room: it uploads with its progress shown, and the message waits.
  const hold = await holdUploads(alice.page);
  const dropped = await transfer(alice.page, 'chart.png', 'image/png', png(900, 450));
  await alice.page.dispatchEvent('section.room', 'dragover', { dataTransfer: dropped });
  await alice.page.dispatchEvent('section.room', 'drop', { dataTransfer: dropped });
  const uploads = alice.page.getByRole('list', { name: 'Files to send' });
  await expect(uploads.getByText('chart.png')).toBeVisible();
  await expect(uploads.getByRole('progressbar', { name: 'Upload of chart.png' })).toBeVisible();
  await expect(alice.page.getByRole('button', { name: 'Uploading…' })).toBeDisabled();
  hold.release();
  await expect(uploads.getByRole('button', { name: 'Remove chart.png' })).toBeVisible();
  await hold.stop();

  // Pasted into the composer, too.
  const pasted = await transfer(alice.page, 'screenshot.png', 'image/png', png(300, 200));
  await composer(alice.page).evaluate((area, dt) => {
    area.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt as DataTransfer, bubbles: true, cancelable: true }));
  }, pasted);
  await expect(uploads.getByRole('button', { name: 'Remove screenshot.png' })).toBeVisible();

  await composer(alice.page).fill('the quarter in one picture');
  await alice.page.getByRole('button', { name: 'Send' }).click();
  await expect(uploads).toHaveCount(0);

  // Bob sees both thumbnails live, sized before they load.
  const chart = log(bob.page).getByRole('img', { name: 'chart.png' });
  await expect(chart).toBeVisible();
  await expect(chart).toHaveAttribute('width', '400');
  await expect(chart).toHaveAttribute('height', '200');
  await expect(log(bob.page).getByRole('img', { name: 'screenshot.png' })).toHaveAttribute('width', '300');
  await expect.poll(() => chart.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(400);

  // The viewer: full size, next and previous across the room's images, Escape closes.
  await log(bob.page).getByRole('link', { name: 'Open image chart.png' }).click();
  const viewer = bob.page.getByRole('dialog', { name: 'Image chart.png' });
  await expect(viewer).toBeVisible();
  await expect.poll(() => viewer.getByRole('img').evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(900);
  await bob.page.keyboard.press('ArrowRight');
  await expect(bob.page.getByRole('dialog', { name: 'Image screenshot.png' })).toBeVisible();
  await bob.page.keyboard.press('ArrowLeft');
  await expect(viewer).toBeVisible();
  const [download] = await Promise.all([
    bob.page.waitForEvent('download'),
    viewer.getByRole('link', { name: 'Download' }).click(),
  ]);
  expect(download.suggestedFilename()).toBe('chart.png');
  await bob.page.keyboard.press('Escape');
  await expect(viewer).toHaveCount(0);

  // A file that is no image is a card that downloads.
  const notes = await transfer(alice.page, 'minutes.txt', 'text/plain', Buffer.from('we agreed on everything'));
  await alice.page.dispatchEvent('section.room', 'drop', { dataTransfer: notes });
  await expect(uploads.getByRole('button', { name: 'Remove minutes.txt' })).toBeVisible();
  await alice.page.getByRole('button', { name: 'Send' }).click();
  const card = log(bob.page).getByRole('link', { name: /minutes\.txt/ });
  await expect(card).toContainText('Text');
  const [saved] = await Promise.all([bob.page.waitForEvent('download'), card.click()]);
  expect(saved.suggestedFilename()).toBe('minutes.txt');

  // The room's Files view lists them, newest first.
  await bob.page.getByRole('link', { name: 'Files', exact: true }).click();
  await expect(bob.page.getByRole('heading', { name: `Files in #${room}` })).toBeVisible();
  const names = await bob.page.locator('.file-list .file-name').allTextContents();
  expect(names).toEqual(['minutes.txt', 'screenshot.png', 'chart.png']);
  expect(errors).toEqual([]);
  await alice.context.close();
  await bob.context.close();
});

test('an upload can be cancelled, and a refused one says why', async ({ browser, baseURL }) => {
  const alice = await personIn(browser, baseURL!, 'cancel', 'general');
  const hold = await holdUploads(alice.page);
  const dropped = await transfer(alice.page, 'slow.bin', 'application/octet-stream', Buffer.alloc(1000, 1));
  await alice.page.dispatchEvent('section.room', 'drop', { dataTransfer: dropped });
  const uploads = alice.page.getByRole('list', { name: 'Files to send' });
  // Cancelling stops the transfer itself, not only its line.
  const aborted = alice.page.waitForEvent('requestfailed', (request) => isUpload(new URL(request.url())));
  await uploads.getByRole('button', { name: 'Cancel slow.bin' }).click();
  await aborted;
  await expect(uploads).toHaveCount(0);
  await expect(alice.page.getByRole('button', { name: 'Send' })).toBeEnabled();
  hold.release();
  await hold.stop();

  // A refusal says why, in the server's words, and the file can be retried.
  const refuse = (route: import('@playwright/test').Route) =>
    route.fulfill({ status: 413, contentType: 'application/json', body: '{"error":"too_large","message":"That file is too big: the most is 50 MB."}' });
  await alice.page.route(isUpload, refuse);
  const big = await transfer(alice.page, 'big.bin', 'application/octet-stream', Buffer.alloc(100, 2));
  await alice.page.dispatchEvent('section.room', 'drop', { dataTransfer: big });
  await expect(uploads.getByRole('alert')).toHaveText('That file is too big: the most is 50 MB.');
  await alice.page.unroute(isUpload, refuse);
  await uploads.getByRole('button', { name: 'Retry big.bin' }).click();
  await expect(uploads.getByRole('button', { name: 'Remove big.bin' })).toBeVisible();
  await alice.context.close();
});

test('dangerous files open as downloads and run nothing', async ({ browser, request, baseURL }) => {
  const base = baseURL!;
  const name = uniqueName('danger');
  const token = await register(request, base, name);
  const files = [
    ['drawing.svg', '<svg xmlns="http://www.w3.org/2000/svg"><script>alert("svg")</script></svg>'],
    ['page.html', '<!doctype html><script>alert("html")</script>'],
    ['innocent.png', '<!doctype html><script>alert("renamed")</script>'],
  ];
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${base}/login`);
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page).toHaveURL(/\/r\/general$/);
  const dialogs: string[] = [];
  page.on('dialog', async (dialog) => {
    dialogs.push(dialog.message());
    await dialog.dismiss();
  });
  for (const [file, body] of files) {
    const uploaded = await request.post(`${base}/api/files?room=general&name=${file}`, {
      data: Buffer.from(body),
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(uploaded.status()).toBe(201);
    const { id } = await uploaded.json();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.goto(`${base}/files/${id}/${file}`).catch(() => null),
    ]);
    expect(download.suggestedFilename()).toBe(file);
  }
  // The page is still the room: nothing was rendered, nothing ran.
  await expect(page).toHaveURL(/\/r\/general$/);
  expect(dialogs).toEqual([]);
  await context.close();
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('the post form takes a file, and the page shows it', async ({ page, request, baseURL }) => {
    const base = baseURL!;
    const name = uniqueName('nojsf');
    await register(request, base, name);
    await page.goto('/login');
    await page.getByLabel('Username').fill(name);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect(page).toHaveURL(/\/r\/general$/);
    await page.locator('input[name="files"]').setInputFiles([
      { name: `plan-${name}.png`, mimeType: 'image/png', buffer: png(500, 250) },
      { name: `notes-${name}.txt`, mimeType: 'text/plain', buffer: Buffer.from('plain words') },
    ]);
    await composer(page).fill(`files without JavaScript from ${name}`);
    await page.getByRole('button', { name: 'Send' }).click();
    await expect(page).toHaveURL(/\/r\/general$/);
    await expect(log(page).getByText(`files without JavaScript from ${name}`)).toHaveCount(1);
    const thumb = log(page).getByRole('img', { name: `plan-${name}.png` });
    await expect(thumb).toHaveAttribute('width', '400');
    await expect.poll(() => thumb.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(400);
    await expect(log(page).getByRole('link', { name: new RegExp(`notes-${name}`) })).toHaveAttribute('href', /^\/files\//);
  });
});
