// Screenshots of every page at 1280x800 showing what `loom demo` left behind (demo_screenshots.sh):
// the workflow list, the demo's graph with the train step's log, the training curves, the
// served model predicting a drawn digit, the TFJob and a replica's log. Each page is checked
// for the demo's data before its screenshot is taken; exits non-zero if one is missing.
import fs from 'node:fs';
import path from 'node:path';
import { drawSeven, launchChromium } from './ui_browser.mjs';

const url = process.env.SERVER_URL;
const token = process.env.SERVER_TOKEN;
const shots = process.env.SCREENSHOT_DIR;
// The demo's workflow: the only one in this LOOM_HOME, and it must have succeeded.
const list = await (await fetch(url + '/api/v1/workflows/default',
  { headers: { Authorization: 'Bearer ' + token } })).json();
if (list.items.length !== 1 || list.items[0].status.phase !== 'Succeeded') {
  console.log('FAIL expected the demo\'s one Succeeded workflow, got ' +
    JSON.stringify(list.items.map(w => [w.metadata.name, w.status.phase])));
  process.exit(1);
}
const name = list.items[0].metadata.name;
console.log(`the demo's workflow: ${name}`);
fs.mkdirSync(shots, { recursive: true });
const browser = await launchChromium();
const page = browser.page;
// Logged in as a user is, from the token URL the server prints (Jupyter's way).
await page.goto(url + '/?token=' + token);
let failures = 0;
async function step(file, fn) {
  try {
    await fn();
    const out = path.join(shots, file);
    await page.screenshot({ path: out });
    console.log(`ok   ${out}`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${file}: ${e.message}`);
    await page.screenshot({ path: path.join(shots, 'failed-' + file) }).catch(() => {});
  }
}

await step('demo-workflows.png', async () => {
  await page.goto(url + '/#/workflows');
  await page.waitForSelector(`#workflow-list tr[data-name="${name}"] .phase.Succeeded`, { timeout: 15000 });
});
await step('demo-workflow-graph.png', async () => {
  await page.goto(url + '/#/workflows/' + encodeURIComponent(name));
  await page.waitForSelector('#workflow-phase[data-phase="Succeeded"]', { timeout: 15000 });
  await page.click('#graph .node[data-name="train"]');
  await page.waitForSelector('#node-details');
  await page.waitForFunction(() => (document.querySelector('#node-panel pre.log') || {}).textContent?.length > 0, null, { timeout: 10000 });
});
await step('demo-training.png', async () => {
  await page.goto(url + '/#/training');
  await page.waitForSelector('#charts svg[data-tag="loss"] path.series', { timeout: 15000 });
});
await step('demo-models.png', async () => {
  await page.goto(url + '/#/models');
  await page.waitForSelector('#model-list .phase.Succeeded', { timeout: 15000 });
  await drawSeven(page);
  await page.waitForSelector('#predicted-class', { timeout: 15000 });
});
await step('demo-jobs.png', async () => {
  await page.goto(url + '/#/jobs');
  await page.waitForSelector(`#job-list a[href="#/jobs/${name}"]`, { timeout: 15000 });
});
await step('demo-job-replica-log.png', async () => {
  await page.goto(url + '/#/jobs/' + encodeURIComponent(name));
  await page.waitForSelector('#replica-list tbody tr button');
  await page.click('#replica-list tbody tr button');
  await page.waitForFunction(() => (document.querySelector('#job-log pre.log') || {}).textContent?.length > 0, null, { timeout: 10000 });
});
await browser.close();
process.exit(failures ? 1 : 0);
