// Times the web UI's pages in chromium against ui_bench --hold (bench/ui/run.sh): the workflow
// list with every row drawn, and a workflow's graph with its 100 MB log's first page shown.
// Each the median of 5 loads in a fresh page. Not a test.
import { launchChromium } from './ui_browser.mjs';

const [url, name, node] = process.argv.slice(2);
const browser = await launchChromium();
const context = browser.context;
async function median(what, fn) {
  const ms = [];
  for (let i = 0; i < 5; i++) {
    const page = await context.newPage();
    const t0 = performance.now();
    await fn(page);
    ms.push(performance.now() - t0);
    await page.close();
  }
  ms.sort((a, b) => a - b);
  console.log(`${what.padEnd(58)} ${ms[2].toFixed(0).padStart(6)} ms`);
}
await median('chromium: workflow list, all rows drawn', async page => {
  await page.goto(url + '/#/workflows');
  await page.waitForFunction(() => document.querySelectorAll('#workflow-list tbody tr[data-name]').length >= 200);
});
await median('chromium: workflow graph + first page of the 100 MB log', async page => {
  await page.goto(url + '/#/workflows/' + name);
  await page.click(`#graph .node[data-id="${node}"]`);
  await page.waitForFunction(() => (document.querySelector('#node-panel pre.log') || {}).textContent?.length > 1000);
});
await browser.close();
