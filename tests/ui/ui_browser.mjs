// What the browser tests share: Debian's chromium launched headless (an
// empty user-data-dir, no sandbox/GPU/background networking), and drawing a digit on the models
// page's canvas with the mouse.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// A persistent context at 1280x800 in a fresh user-data-dir; close() removes the directory.
export async function launchChromium() {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loom-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] || await context.newPage();
  return {
    context, page,
    async close() { await context.close(); fs.rmSync(userDataDir, { recursive: true, force: true }); },
  };
}

// Draws a "7" (the top bar, then the diagonal down to the bottom left) with mouse events on the
// models page's 280x280 canvas, whatever size it is shown at.
export async function drawSeven(page) {
  const box = await page.locator('#digit').boundingBox();
  const at = (x, y) => [box.x + x * box.width / 280, box.y + y * box.height / 280];
  await page.mouse.move(...at(80, 60));
  await page.mouse.down();
  for (const [x, y] of [[130, 60], [200, 60], [185, 110], [160, 160], [140, 210], [125, 240]]) {
    await page.mouse.move(...at(x, y), { steps: 8 });
  }
  await page.mouse.up();
}
