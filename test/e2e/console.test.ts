/**
 * The web console end to end, in Debian's Chromium driven by playwright-core, against a real
 * `headstart serve` child process on 127.0.0.1 with a fresh HEADSTART_HOME and the real backbone:
 * create a dataset, add two labels, upload 10 real hymenoptera photos to each by the file input
 * (and a .jpg that is not an image, refused with its reason), wait for extraction, train, read the
 * validation accuracy, drop an image on "Try it" and read the top class, move one image to the
 * other label and train again, roll back; then a text dataset: upload real banking77 inquiries as
 * .txt files (one planted under the wrong label, with markup in it), train (TF-IDF), and read the
 * misclassified text, as text, in the list and the inline report. Every request the page makes must stay on 127.0.0.1. Screenshots of
 * each step go to test-results/console/ (kept for a person to look at), with the measured start-up
 * time and transferred bytes in metrics.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { chromium, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConsole, checkConsole } from '../../scripts/build-console.js';
import { freePort } from '../helpers/freePort.js';
import { datasetsDir, repoDir } from '../helpers/shared.js';

const PER_LABEL = 10;
const SHOTS = path.join(repoDir(), 'test-results', 'console');
const hymenoptera = path.join(datasetsDir(), 'hymenoptera');

let work = '';
let server: ChildProcess | undefined;
let serverOutput = '';
let baseUrl = '';
let context: BrowserContext | undefined;
let page: Page;
let cdp: CDPSession;
const requests: string[] = [];
const offHost: string[] = [];
const shots: string[] = [];
const metrics: Record<string, unknown> = {};
let transferred = 0;

async function firstFiles(dir: string, count: number): Promise<string[]> {
  return (await readdir(dir)).sort().slice(0, count).map((f) => path.join(dir, f));
}

async function shot(name: string): Promise<void> {
  const file = path.join(SHOTS, `${String(shots.length + 1).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  shots.push(path.basename(file));
}

/** What has the keyboard focus: its id, its text, and the text of its first <label>. Runs in the page. */
function focused(): Promise<{ id: string; text: string; label: string }> {
  return page.evaluate(() => {
    type Focusable = { id: string; textContent: string | null; labels?: ArrayLike<{ textContent: string | null }> | null };
    const active = (globalThis as unknown as { document: { activeElement: Focusable | null } }).document.activeElement;
    return { id: active?.id ?? '', text: active?.textContent ?? '', label: active?.labels?.[0]?.textContent ?? '' };
  });
}

function card(label: string) {
  return page.locator(`article.card[data-label="${label}"]`);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'hs-console-'));
  await rm(SHOTS, { recursive: true, force: true });
  await mkdir(SHOTS, { recursive: true });
  // The console is built from the repo's sources into a scratch folder (type-checked first), so
  // this test never depends on, or disturbs, a dist/ another build is writing.
  checkConsole();
  const consoleDir = path.join(work, 'console');
  await buildConsole(consoleDir);

  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  // The browser starts first, so the start-up time below is the server's and the page's alone.
  context = await chromium.launchPersistentContext(path.join(work, 'chromium'), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  // Anything not for our server is recorded and refused, so a stray fetch fails loudly here.
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (url.startsWith(`${baseUrl}/`) || url.startsWith('data:') || url.startsWith('blob:')) await route.continue();
    else {
      offHost.push(url);
      await route.abort();
    }
  });
  context.on('request', (request) => requests.push(request.url()));
  page = context.pages()[0] ?? (await context.newPage());
  cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  cdp.on('Network.loadingFinished', (event: { encodedDataLength: number }) => (transferred += event.encodedDataLength));
  page.on('dialog', (dialog) => void dialog.accept());
  const started = performance.now();
  server = spawn(process.execPath, [path.join(repoDir(), 'bin', 'headstart.js'), 'serve', '--port', String(port)], {
    cwd: work,
    env: { ...process.env, HEADSTART_HOME: path.join(work, 'home'), HEADSTART_CONSOLE_DIR: consoleDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout?.on('data', (chunk: Buffer) => (serverOutput += chunk.toString()));
  server.stderr?.on('data', (chunk: Buffer) => (serverOutput += chunk.toString()));
  const listening = performance.now();
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (serverOutput.includes('headstart API on')) {
        clearInterval(timer);
        resolve();
      } else if (server?.exitCode !== null || performance.now() - listening > 60_000) {
        clearInterval(timer);
        reject(new Error(`headstart serve did not start: ${serverOutput}`));
      }
    }, 20);
  });
  metrics['serveListeningMs'] = Math.round(performance.now() - started);

  await page.goto(`${baseUrl}/`);
  await page.locator('body[data-ready="true"]').waitFor();
  metrics['serveToInteractiveMs'] = Math.round(performance.now() - started);
  // Runs in the page (this file is type-checked without DOM types, hence the local shape).
  type Timing = { name: string; transferSize: number };
  const load = await page.evaluate(() => {
    const entries = (type: string): Timing[] => (performance as unknown as { getEntriesByType(t: string): Timing[] }).getEntriesByType(type);
    const nav = entries('navigation')[0] as Timing;
    return { document: nav.transferSize, resources: entries('resource').map((r) => ({ name: r.name, bytes: r.transferSize })) };
  });
  metrics['initialLoad'] = load;
  metrics['initialLoadBytes'] = load.document + load.resources.reduce((sum, r) => sum + r.bytes, 0);
}, 180_000);

afterAll(async () => {
  metrics['sessionTransferredBytes'] = transferred;
  metrics['screenshots'] = shots;
  metrics['requests'] = requests.length;
  await writeFile(path.join(SHOTS, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`).catch(() => undefined);
  await context?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server?.once('exit', resolve));
    server.kill('SIGTERM');
    await exited;
  }
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the web console, end to end', () => {
  it('serves a page that works with no request leaving 127.0.0.1', async () => {
    await expect(page.title()).resolves.toBe('headstart console');
    expect(await page.getByText('No datasets yet').isVisible()).toBe(true);
    await shot('start');
  });

  it('creates a dataset and two labels with the keyboard alone, held on the page until their first upload', async () => {
    // Tab order from the top: the skip link first, then the page's controls in reading order.
    await page.keyboard.press('Tab');
    expect((await focused()).text).toBe('Skip to the console');
    for (let i = 0; i < 10 && (await focused()).id !== 'new-dataset'; i++) await page.keyboard.press('Tab');
    expect((await focused()).label).toBe('New dataset');
    await page.keyboard.type('bugs');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByRole('heading', { name: 'Dataset bugs' }).isVisible()).toBe(true);
    // Opening a dataset moves focus to its heading, so a screen reader announces where it is.
    expect((await focused()).text).toBe('Dataset bugs');
    for (const label of ['ants', 'bees']) {
      await page.getByLabel('New label').focus();
      await page.keyboard.type(label);
      await page.keyboard.press('Enter');
      await card(label).waitFor();
      // Focus lands on the new label's "add images" control (the file input, named by its label).
      expect((await focused()).label).toBe(`Add examples to ${label}`);
    }
    await shot('labels');
  });

  it('uploads real photos by the file input, extracts them, and shows why a file that is not an image was refused', async () => {
    const ants = await firstFiles(path.join(hymenoptera, 'train', 'ants'), PER_LABEL);
    const bees = await firstFiles(path.join(hymenoptera, 'train', 'bees'), PER_LABEL);
    const asFiles = (files: string[]) => Promise.all(files.map(async (f) => ({ name: path.basename(f), mimeType: 'image/jpeg', buffer: await readFile(f) })));
    await page.getByLabel('Add examples to ants').setInputFiles([...(await asFiles(ants)), { name: 'not-a-photo.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('these are not pixels\n') }]);
    await page.getByLabel('Add examples to bees').setInputFiles(await asFiles(bees));
    await shot('uploading');
    await expect
      .poll(() => page.getByTestId('summary').textContent(), { timeout: 90_000, interval: 500 })
      .toMatch(new RegExp(`^${2 * PER_LABEL} images ready in 2 labels, 0 waiting, 1 refused`));
    await expect.poll(() => card('ants').locator('.counts').textContent()).toBe(`${PER_LABEL} ready, 1 refused`);
    const reason = await card('ants').locator('.failures li').textContent();
    expect(reason).toMatch(/^not-a-photo\.jpg: .*not an image/i);
    await expect.poll(() => page.locator('.uploads li[data-file="not-a-photo.jpg"] .upload-status').textContent()).toMatch(/^refused: .*not an image/i);
    expect(await card('bees').locator('.thumbs img').count()).toBe(PER_LABEL);
    await shot('extracted-with-refusal');
  });

  it('trains, shows the job and the validation accuracy, and the verdict in words and numbers', async () => {
    await page.getByRole('button', { name: 'Train', exact: true }).click();
    await expect.poll(() => page.getByTestId('job-status').textContent(), { timeout: 120_000, interval: 500 }).toMatch(/^Training done/);
    // The result line is redrawn once the new version's row arrives, which can follow the job's status.
    await expect.poll(() => page.getByTestId('train-result').textContent(), { timeout: 30_000, interval: 250 }).toMatch(/validation accuracy [\d.]+%/);
    const result = (await page.getByTestId('train-result').textContent()) ?? '';
    const accuracy = Number(/validation accuracy ([\d.]+)%/.exec(result)?.[1]);
    metrics['firstValidationAccuracy'] = accuracy;
    expect(accuracy).toBeGreaterThanOrEqual(80);
    const verdict = (await page.getByTestId('verdict-after').textContent()) ?? '';
    expect(verdict).toMatch(/Pretraining (helps|helps a little|does not help): [+-][\d.]+ points/);
    expect(verdict).toMatch(/Without \(same head on raw pixels\)[\d.]+%/);
    expect(await page.getByTestId('verdict-before').textContent()).toContain('Not measured yet');
    await expect.poll(() => page.frameLocator('iframe.report').locator('h1').textContent()).toContain('bugs');
    await shot('trained');
    await page.locator('iframe.report').scrollIntoViewIfNeeded();
    await page.locator('iframe.report').screenshot({ path: path.join(SHOTS, `${String(shots.length + 1).padStart(2, '0')}-report-inline.png`) });
    shots.push(`${String(shots.length + 1).padStart(2, '0')}-report-inline.png`);
  });

  it('classifies an image dropped on "Try it" and shows the top classes as bars', async () => {
    const file = (await firstFiles(path.join(hymenoptera, 'val', 'bees'), 1))[0] as string;
    const bytes = (await readFile(file)).toString('base64');
    const transfer = await page.evaluateHandle(
      ({ b64, name }) => {
        type Transfer = { items: { add(file: File): void } };
        const data = new (globalThis as unknown as { DataTransfer: new () => Transfer }).DataTransfer();
        data.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type: 'image/jpeg' }));
        return data;
      },
      { b64: bytes, name: path.basename(file) },
    );
    await page.getByTestId('try-drop').dispatchEvent('drop', { dataTransfer: transfer });
    await expect.poll(() => page.locator('.top-class strong').textContent(), { timeout: 30_000 }).toBe('bees');
    expect(await page.getByTestId('prediction').locator('.bars li').count()).toBe(2);
    expect(await page.getByTestId('prediction').textContent()).toMatch(/Looks like the training images|looks unlike the training images/);
    await page.getByTestId('try-drop').scrollIntoViewIfNeeded();
    await shot('prediction');
  });

  it('moves one image to the other label, trains again and rolls back to the first version', async () => {
    const firstVersion = await page.locator('.versions tr.current th').textContent();
    const moved = path.basename((await firstFiles(path.join(hymenoptera, 'train', 'ants'), 1))[0] as string);
    await card('ants').getByRole('button', { name: moved }).click();
    await card('ants').getByLabel('Label to move the selected ants examples to').selectOption('bees');
    await card('ants').getByRole('button', { name: 'Move 1 selected', exact: true }).click();
    await expect.poll(() => card('bees').locator('.counts').textContent(), { timeout: 60_000 }).toBe(`${PER_LABEL + 1} ready`);
    await expect.poll(() => card('ants').locator('.counts').textContent()).toBe(`${PER_LABEL - 1} ready, 1 refused`);
    await shot('relabelled');

    await page.getByRole('button', { name: 'Train', exact: true }).click();
    await expect.poll(() => page.getByTestId('job-status').textContent(), { timeout: 120_000, interval: 500 }).toMatch(/^Training done/);
    await expect.poll(() => page.locator('.versions tbody tr').count()).toBe(2);
    const secondVersion = await page.locator('.versions tr.current th').textContent();
    expect(secondVersion).not.toBe(firstVersion);
    expect(await page.getByTestId('verdict-before').textContent()).toContain(`Before training (${firstVersion})`);
    metrics['secondResult'] = await page.getByTestId('train-result').textContent();
    await shot('retrained');

    await page.getByRole('button', { name: 'Roll back to the previous version' }).click();
    await expect.poll(() => page.locator('.versions tr.current th').textContent()).toBe(firstVersion);
    await page.locator('.versions').scrollIntoViewIfNeeded();
    await shot('rolled-back');
  });

  it('a text dataset: uploads .txt inquiries, trains, and shows a misclassified text as text, escaped, in the list and the report', async () => {
    const planted = '<script>document.title="pwned"</script> I still have not received my new card, it has been two weeks';
    const rows = parse(await readFile(path.join(datasetsDir(), 'banking77', 'train.csv')), { columns: true }) as Array<{ text: string; category: string }>;
    const textsOf = (intent: string) => rows.filter((r) => r.category === intent).slice(0, PER_LABEL).map((r, i) => ({ name: `t${i}.txt`, mimeType: 'text/plain', buffer: Buffer.from(r.text) }));
    await page.getByLabel('New dataset').fill('inquiries');
    await page.getByLabel('New dataset').press('Enter');
    await expect.poll(() => page.getByRole('heading', { name: 'Dataset inquiries' }).isVisible()).toBe(true);
    for (const label of ['card_arrival', 'top_up_failed']) {
      await page.getByLabel('New label').fill(label);
      await page.getByLabel('New label').press('Enter');
      await card(label).waitFor();
    }
    await page.getByLabel('Add examples to card_arrival').setInputFiles(textsOf('card_arrival'));
    // A card-arrival inquiry filed under top_up_failed: the model should call it card_arrival.
    await page.getByLabel('Add examples to top_up_failed').setInputFiles([...textsOf('top_up_failed'), { name: 'planted.txt', mimeType: 'text/plain', buffer: Buffer.from(planted) }]);
    await expect.poll(() => card('top_up_failed').locator('.counts').textContent(), { timeout: 60_000, interval: 500 }).toBe(`${PER_LABEL + 1} ready`);
    await expect.poll(() => card('card_arrival').locator('.counts').textContent()).toBe(`${PER_LABEL} ready`);

    await page.getByRole('button', { name: 'Train', exact: true }).click();
    await expect.poll(() => page.getByTestId('job-status').textContent(), { timeout: 120_000, interval: 500 }).toMatch(/^Training done/);
    await expect.poll(() => page.getByRole('heading', { name: 'Misclassified texts' }).isVisible()).toBe(true);
    const mistake = page.locator('.mistake.text').filter({ hasText: 'planted.txt' });
    await expect.poll(() => mistake.locator('blockquote').textContent()).toBe(planted);
    expect(await mistake.textContent()).toContain('labelled top_up_failed, predicted card_arrival');
    expect(await page.locator('.mistakes img, .mistakes script').count()).toBe(0);
    expect(await page.title()).toBe('headstart console');
    const report = page.frameLocator('iframe.report');
    await expect.poll(() => report.locator('h1').textContent()).toContain('inquiries');
    await expect.poll(() => report.locator('#misclassified .snippet .text').allTextContents()).toContain(planted);
    expect(await report.locator('script, #misclassified img').count()).toBe(0);
    expect(await report.locator('#learning-curve svg').count()).toBe(1);
    await page.locator('.mistakes').scrollIntoViewIfNeeded();
    await shot('text-mistakes');
  });

  it('gives every control an accessible name', async () => {
    const unnamed = await page.evaluate(() => {
      type Control = { tagName: string; id: string; outerHTML: string; textContent: string | null; getAttribute(n: string): string | null; labels?: { length: number } | null; hidden?: boolean };
      const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<Control> } }).document;
      return [...doc.querySelectorAll('button, input, select, textarea, iframe, progress, video')]
        .filter((el) => {
          const named = (el.getAttribute('aria-label') ?? '').trim() !== '' || (el.getAttribute('title') ?? '').trim() !== '' || (el.labels?.length ?? 0) > 0;
          const text = el.tagName === 'BUTTON' && (el.textContent ?? '').trim() !== '';
          return !named && !text;
        })
        .map((el) => el.outerHTML.slice(0, 120));
    });
    expect(unnamed).toEqual([]);
  });

  it('made every request to 127.0.0.1 only', () => {
    expect(offHost).toEqual([]);
    expect(requests.filter((url) => !url.startsWith(`${baseUrl}/`) && !url.startsWith('data:') && !url.startsWith('blob:'))).toEqual([]);
    expect(requests.length).toBeGreaterThan(10);
  });
});
