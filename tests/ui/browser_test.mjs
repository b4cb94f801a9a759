// Drives Debian's chromium (playwright-core, no downloaded browser) against a running
// `loom server` prepared by run_browser_tests.sh: logs in on the login page (a wrong token is
// refused), submits a workflow and watches its graph turn
// green, opens a node's log, creates a WorkflowTemplate and submits it from its page with a
// changed parameter (seen in the new workflow's node) then deletes it, sees training curves from real event files, draws a digit and gets
// a prediction from a real `loom serve`, opens a TFJob replica's log and a TrainJob's node log
// (its row naming the kind and its nodes), and checks that a page of
// another origin cannot submit a workflow. Screenshots (1280x800, and one phone-sized) go to
// $SCREENSHOT_DIR. Exits non-zero on the first failed check.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { drawSeven, launchChromium } from './ui_browser.mjs';

const url = process.env.SERVER_URL;
const token = process.env.SERVER_TOKEN;
const shots = process.env.SCREENSHOT_DIR;
const jobName = process.env.JOB_NAME;
const trainJobName = process.env.TRAINJOB_NAME;
if (!url || !shots || !token) throw new Error('SERVER_URL, SERVER_TOKEN and SCREENSHOT_DIR must be set');
// The test's own requests to the API, as the CLI makes them.
const apiGet = async path => (await fetch(url + path, { headers: { Authorization: 'Bearer ' + token } })).json();
fs.mkdirSync(shots, { recursive: true });

const browser = await launchChromium();
const page = browser.page;

const consoleErrors = [];
let expectedBadRequests = 0;  // 400s a check caused on purpose (chromium logs each one)
let expectedUnauthorized = 0;  // the same for 401s (a wrong token on the login page)
page.on('console', m => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', e => consoleErrors.push(String(e)));
page.on('response', r => { if (r.status() === 404) consoleErrors.push('404 for ' + r.url()); });

let failures = 0;
async function check(name, fn) {
  const started = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e.message}`);
    const file = path.join(shots, `failed-${name.replace(/\W+/g, '-')}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    console.log(`     screenshot: ${file}`);
  }
}
async function shot(name, fullPage = false) {
  const file = path.join(shots, name + '.png');
  await page.screenshot({ path: file, fullPage });
  console.log(`     screenshot: ${file}`);
}
function assert(cond, message) { if (!cond) throw new Error(message); }

const WORKFLOW = `apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: browser-
spec:
  entrypoint: main
  templates:
  - name: main
    dag:
      tasks:
      - {name: prepare, template: say, arguments: {parameters: [{name: msg, value: preparing the data}]}}
      - {name: train, template: say, dependencies: [prepare], arguments: {parameters: [{name: msg, value: training the model}]}}
      - {name: evaluate, template: say, dependencies: [prepare], arguments: {parameters: [{name: msg, value: evaluating}]}}
      - {name: export, template: say, dependencies: [train, evaluate], arguments: {parameters: [{name: msg, value: exporting}]}}
  - name: say
    inputs: {parameters: [{name: msg}]}
    container:
      image: alpine:3.19
      command: [sh, -c]
      args: ["for i in 1 2 3; do echo '{{inputs.parameters.msg}}' step $i; sleep 0.3; done"]
`;

await check('login: the login page, a wrong token refused, then in', async () => {
  await page.goto(url + '/#/workflows');
  // Redirected (the browser keeps the #fragment across the redirect).
  await page.waitForURL(u => u.pathname === '/login', { timeout: 10000 });
  await page.fill('#token', 'not-the-token');
  expectedUnauthorized++;
  await page.click('button[type=submit]');
  await page.waitForSelector('#login-error:has-text("not this server\'s token")', { timeout: 10000 });
  await shot('login-refused');
  await page.fill('#token', token);
  await page.click('button[type=submit]');
  await page.waitForURL(u => !u.toString().includes('/login'), { timeout: 10000 });
  await page.waitForSelector('#workflow-list', { timeout: 10000 });
});

await check('workflow: submit, graph turns green, node log', async () => {
  await page.goto(url + '/#/workflows');
  await page.waitForSelector('#workflow-list');
  await page.click('summary');
  await page.fill('#manifest', WORKFLOW);
  await page.click('#submit');
  await page.waitForURL(/#\/workflows\/browser-/, { timeout: 10000 });
  const name = decodeURIComponent(new URL(page.url()).hash.split('/')[2]);
  await page.waitForSelector('#graph .node', { timeout: 10000 });
  // Live: some node is seen Running before the end (the pods sleep ~1 s each).
  await page.waitForSelector('#graph .node[data-phase="Running"]', { timeout: 30000 });
  await page.waitForSelector('#workflow-phase[data-phase="Succeeded"]', { timeout: 90000 });
  await page.waitForFunction(() => [...document.querySelectorAll('#graph .node')].every(n => n.dataset.phase === 'Succeeded'), null, { timeout: 10000 });
  const nodes = await page.$$eval('#graph .node', ns => ns.map(n => [n.dataset.name, n.dataset.phase]));
  for (const task of ['prepare', 'train', 'evaluate', 'export'])
    assert(nodes.some(([n, p]) => n === task && p === 'Succeeded'), `node ${task} not green: ${JSON.stringify(nodes)}`);
  const fill = await page.$eval('#graph .node[data-name="train"] rect', r => r.getAttribute('fill'));
  assert(fill === '#1e9e5a', `train node is drawn ${fill}, not green`);
  await shot('workflow-graph');
  // Keyboard: focus the node and press Enter.
  await page.focus('#graph .node[data-name="train"]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#node-details');
  await page.waitForFunction(() => (document.querySelector('#node-panel pre.log') || {}).textContent?.includes('training the model step 3'), null, { timeout: 15000 });
  const details = await page.textContent('#node-details');
  assert(details.includes('training the model'), 'the node\'s inputs are not shown: ' + details);
  await shot('workflow-node-log');
  await page.goto(url + '/#/workflows');
  await page.waitForSelector(`#workflow-list tr[data-name="${name}"] .phase.Succeeded`);
  const progress = await page.textContent(`#workflow-list tr[data-name="${name}"] td:nth-child(5)`);
  assert(/^\d+\/\d+$/.test(progress.trim()), `progress column reads "${progress}"`);
  await shot('workflow-list');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  await page.waitForSelector(`#workflow-list tr[data-name="${name}"]`);
  await shot('workflow-list-phone');
  await page.goto(url + '/#/workflows/' + encodeURIComponent(name));
  await page.waitForSelector('#graph .node[data-phase="Succeeded"]');
  await shot('workflow-graph-phone', true);
  await page.setViewportSize({ width: 1280, height: 800 });
});

const TEMPLATE = {
  apiVersion: 'argoproj.io/v1alpha1', kind: 'WorkflowTemplate', metadata: { name: 'browser-greeter' },
  spec: {
    entrypoint: 'main',
    arguments: { parameters: [
      { name: 'greeting', value: 'hello', description: 'what to say <img src=x id=injected>' },
      { name: 'color', value: 'blue', enum: ['blue', 'green'] },
      { name: 'signature', description: 'required: no default' }] },
    templates: [
      { name: 'main', steps: [[{ name: 'say', template: 'say',
        arguments: { parameters: [{ name: 'msg', value: '{{workflow.parameters.greeting}} in {{workflow.parameters.color}}, {{workflow.parameters.signature}}' }] } }]] },
      { name: 'say', inputs: { parameters: [{ name: 'msg' }] },
        container: { image: 'alpine:3.19', command: ['sh', '-c'], args: ['echo "{{inputs.parameters.msg}}"'] } }],
  },
};

await check('cron workflows: the list with schedules, time zones and next runs', async () => {
  await page.goto(url + '/#/cron-workflows');
  await page.waitForSelector('#cron-list tr[data-name="nightly"]');
  const cells = async (name) => page.$$eval(`#cron-list tr[data-name="${name}"] td`, tds => tds.map(td => td.textContent));
  const nightly = await cells('nightly');
  assert(nightly[1] === '0 3 * * *' && nightly[2] === 'Europe/Paris', 'the nightly row reads ' + JSON.stringify(nightly));
  assert(nightly[3] === '-' && nightly[4] !== '-' && nightly[8] === 'no', 'last/next run and suspended read ' + JSON.stringify(nightly));
  const paused = await cells('paused');
  assert(paused[1] === '@yearly' && paused[2] === 'UTC' && paused[4] === '-' && paused[8] === 'yes', 'the paused row reads ' + JSON.stringify(paused));
  const api = await apiGet('/api/v1/cron-workflows/default/nightly');
  const next = new Date(api.status.nextScheduledTime);
  const paris = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', hour: '2-digit', minute: '2-digit' }).format(next);
  assert(paris === '03:00', 'the next run is not 03:00 in Paris: ' + api.status.nextScheduledTime);
  await shot('cron-workflows');
});

await check('workflow templates: the empty page, and one created on it', async () => {
  // Empty: the page says how to add one.
  await page.goto(url + '/#/workflow-templates');
  await page.waitForSelector('#templates-empty');
  const empty = await page.textContent('#templates-empty');
  assert(empty.includes('loom template create FILE'), 'the empty state reads: ' + empty);
  await shot('templates-empty');
  // The editor: a mistake is reported with its line, then a good one opens the new template.
  await page.click('summary');
  const sample = await page.inputValue('#template-manifest');
  await page.fill('#template-manifest', sample.replace('entrypoint: main', 'entrypoint: mian'));
  expectedBadRequests++;
  await page.click('#create-template');
  await page.waitForFunction(() => document.querySelector('#create-template-error').textContent !== '', null, { timeout: 10000 });
  const error = await page.textContent('#create-template-error');
  assert(/manifest:\d+/.test(error) && error.includes('mian'), 'the error does not name the line and the mistake: ' + error);
  await page.fill('#template-manifest', sample.replace('name: hello-template', 'name: made-on-the-page'));
  await page.click('#create-template');
  await page.waitForURL(/#\/workflow-templates\/made-on-the-page$/, { timeout: 10000 });
  await page.waitForSelector('#template-spec');
  const spec = await page.textContent('#template-spec');
  assert(spec.includes('name: made-on-the-page'), 'the new template\'s page shows: ' + spec.slice(0, 200));
  const removed = await page.evaluate(async () => (await fetch('/api/v1/workflow-templates/default/made-on-the-page',
    { method: 'DELETE', headers: { 'Content-Type': 'application/json' } })).status);
  assert(removed === 200, 'deleting it: ' + removed);
});

await check('workflow templates: list, open, submit with a changed parameter, delete', async () => {
  await page.goto(url + '/#/workflow-templates');
  await page.waitForSelector('#templates-empty');
  // Created through the API (same origin, as the page itself would), then listed.
  const created = await page.evaluate(async (t) => {
    const r = await fetch('/api/v1/workflow-templates/default', { method: 'POST',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ template: t }) });
    return [r.status, await r.text()];
  }, TEMPLATE);
  assert(created[0] === 200, 'creating the template: ' + created.join(' '));
  const row = '#template-list tr[data-name="browser-greeter"]';
  await page.waitForSelector(row, { timeout: 10000 });
  const cells = await page.$$eval(row + ' td', tds => tds.map(td => td.textContent.trim()));
  assert(cells[0] === 'browser-greeter' && cells[2] === 'main' && cells[3] === '2', 'list row: ' + JSON.stringify(cells));
  assert(cells[1] !== '', 'no creation time in the list: ' + JSON.stringify(cells));
  assert(await page.$('#templates-empty') === null, 'the empty state is still shown beside a template');
  await shot('templates-list');
  // Open it: the spec as YAML (and JSON), the parameters with default, description and enum.
  await page.click(row + ' a');
  await page.waitForSelector('#template-spec');
  const yaml = await page.textContent('#template-spec');
  assert(yaml.includes('kind: WorkflowTemplate') && yaml.includes('entrypoint: main'), 'spec shown as: ' + yaml.slice(0, 200));
  const params = await page.$$eval('#template-parameters tbody tr', trs => trs.map(tr => [...tr.children].map(td => td.textContent)));
  assert(JSON.stringify(params) === JSON.stringify([
    ['greeting', 'hello', 'what to say <img src=x id=injected>', ''], ['color', 'blue', '', 'blue, green'],
    ['signature', '', 'required: no default', '']]),
  'parameters table: ' + JSON.stringify(params));
  // Text from the server stays text: the description's tag is not an element.
  assert(await page.$('#injected') === null, 'a parameter description was inserted as HTML');
  await shot('template');
  await page.click('#spec-json');
  const json = JSON.parse(await page.textContent('#template-spec'));
  assert(json.metadata.name === 'browser-greeter' && json.spec.arguments.parameters.length === 3, 'JSON spec: ' + JSON.stringify(json).slice(0, 200));
  await page.click('#spec-yaml');
  // At phone size every page of the nav bar, Templates included, is on the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  const navRight = await page.$$eval('nav a', as => Math.max(...as.map(a => a.getBoundingClientRect().right)));
  assert(navRight <= 390, `the nav bar runs off a 390 px screen (to ${navRight} px)`);
  await shot('template-phone', true);
  await page.setViewportSize({ width: 1280, height: 800 });
  // The form starts at the defaults; change both and submit.
  assert(await page.inputValue('#submit-form [data-param="greeting"]') === 'hello', 'greeting not pre-filled with its default');
  assert(await page.inputValue('#submit-form [data-param="color"]') === 'blue', 'color not pre-filled with its default');
  await page.fill('#submit-form [data-param="greeting"]', 'bonjour <b>tout</b> le monde');
  await page.selectOption('#submit-form [data-param="color"]', 'green');
  // The required one left empty: the server's refusal naming it is shown, nothing is submitted.
  expectedBadRequests++;
  await page.click('#submit-template');
  await page.waitForFunction(() => document.querySelector('#submit-error').textContent !== '', null, { timeout: 10000 });
  const refusal = await page.textContent('#submit-error');
  assert(refusal.includes('signature'), 'submitting without the required parameter: ' + refusal);
  assert(new URL(page.url()).hash === '#/workflow-templates/browser-greeter', 'left the page after a refused submit: ' + page.url());
  await page.fill('#submit-form [data-param="signature"]', 'loom');
  await page.click('#submit-template');
  await page.waitForURL(/#\/workflows\/browser-greeter-/, { timeout: 10000 });
  await page.waitForSelector('#workflow-phase[data-phase="Succeeded"]', { timeout: 60000 });
  await page.waitForSelector('#graph .node[data-name="say"]');
  await page.click('#graph .node[data-name="say"]');
  await page.waitForSelector('#node-details');
  const details = await page.textContent('#node-details');
  assert(details.includes('msg = bonjour <b>tout</b> le monde in green, loom'), 'the submitted parameters are not in the node\'s inputs: ' + details);
  await page.waitForFunction(() => (document.querySelector('#node-panel pre.log') || {}).textContent?.includes('bonjour <b>tout</b> le monde in green, loom'), null, { timeout: 15000 });
  await shot('template-submitted');
  // Delete it (after the confirm): back on the list, which no longer has it.
  await page.goto(url + '/#/workflow-templates/browser-greeter');
  await page.waitForSelector('#delete-template');
  page.once('dialog', d => d.accept());
  await page.click('#delete-template');
  await page.waitForURL(u => u.hash === '#/workflow-templates', { timeout: 10000 });
  await page.waitForSelector('#templates-empty', { timeout: 10000 });
  assert(await page.$(row) === null, 'the deleted template is still listed');
  const left = await apiGet('/api/v1/workflow-templates/default');
  assert(left.items.length === 0, 'the template is still stored: ' + JSON.stringify(left.items.map(t => t.metadata.name)));
});

await check('training: curves from the run\'s event files', async () => {
  await page.goto(url + '/#/training');
  await page.waitForSelector('#charts svg[data-tag="loss"] path.series', { timeout: 15000 });
  const runs = await page.$$eval('#charts svg[data-tag="loss"] path.series', ps => ps.map(p => [p.dataset.run, (p.getAttribute('d').match(/L/g) || []).length]));
  assert(runs.length >= 2, 'expected two runs overlaid, got ' + JSON.stringify(runs));
  for (const [run, segments] of runs) assert(segments >= 10, `run ${run}: only ${segments} segments drawn`);
  assert(await page.$('#charts svg[data-tag="accuracy"]'), 'no accuracy chart');
  // Smoothing changes the drawn curve.
  const before = await page.getAttribute('#charts svg[data-tag="loss"] path.series', 'd');
  await page.fill('#smoothing', '0');
  await page.dispatchEvent('#smoothing', 'input');
  const after = await page.getAttribute('#charts svg[data-tag="loss"] path.series', 'd');
  assert(before !== after, 'smoothing did not change the curve');
  await page.fill('#smoothing', '0.6');
  await page.dispatchEvent('#smoothing', 'input');
  await shot('training');
});

await check('models: draw a digit, get a prediction', async () => {
  await page.goto(url + '/#/models');
  await page.waitForSelector('#model-list .phase.Succeeded', { timeout: 20000 });
  await drawSeven(page);
  await page.waitForSelector('#predicted-class', { timeout: 15000 });
  const predicted = await page.getAttribute('#predicted-class', 'data-class');
  const scores = await page.$$eval('#prediction .bar span:last-child', s => s.map(x => Number(x.textContent)));
  assert(scores.length === 10, 'expected 10 scores, got ' + scores.length);
  const sum = scores.reduce((a, b) => a + b, 0);
  assert(Math.abs(sum - 1) < 0.01, 'scores do not sum to 1: ' + sum);
  assert(predicted === '7', `drew a 7, the model said ${predicted} (scores ${scores.join(' ')})`);
  await shot('models');
  // The keyboard alone: a vertical stroke ("1") drawn with the arrow keys.
  await page.click('#clear');
  await page.focus('#digit');
  for (let i = 0; i < 9; i++) await page.keyboard.press('ArrowUp');
  await page.keyboard.press('Space');
  for (let i = 0; i < 18; i++) await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#predicted-class', { timeout: 15000 });
  const typed = await page.getAttribute('#predicted-class', 'data-class');
  assert(typed === '1', `drew a 1 with the keyboard, the model said ${typed}`);
  await page.setViewportSize({ width: 390, height: 844 });
  await shot('models-phone', true);
  await page.setViewportSize({ width: 1280, height: 800 });
});

if (jobName) {
  await check('jobs: replicas and a replica log', async () => {
    await page.goto(url + '/#/jobs');
    await page.waitForSelector(`#job-list a[href="#/jobs/${jobName}"]`);
    await shot('jobs');
    await page.click(`#job-list a[href="#/jobs/${jobName}"]`);
    await page.waitForSelector('#replica-list tbody tr');
    await page.click('#replica-list tbody tr button');
    await page.waitForFunction(() => (document.querySelector('#job-log pre.log') || {}).textContent?.includes('replica says hello'), null, { timeout: 10000 });
    await shot('job-replica-log');
  });
}

if (trainJobName) {
  await check('jobs: a TrainJob with its nodes and a node log', async () => {
    await page.goto(url + '/#/jobs');
    const link = `#job-list a[href="#/jobs/${trainJobName}"]`;
    await page.waitForSelector(link);
    const row = await page.$eval(link, a => a.closest('tr').textContent);
    assert(row.includes('TrainJob') && row.includes('Succeeded') && row.includes('2 nodes Succeeded'), `the TrainJob's row: ${row}`);
    await page.click(link);
    await page.waitForFunction(() => document.querySelectorAll('#replica-list tbody tr').length === 2);
    const nodes = await page.$$eval('#replica-list tbody tr td:first-child', tds => tds.map(td => td.textContent));
    assert(nodes.join(',') === 'node-0,node-1', `nodes: ${nodes}`);
    await page.waitForFunction(() => document.body.textContent.includes('jobset completed successfully'));
    await page.click('#replica-list tbody tr:nth-child(2) button');
    await page.waitForFunction(() => (document.querySelector('#job-log pre.log') || {}).textContent?.includes('node 1 of 2 says hello'), null, { timeout: 10000 });
    await shot('trainjob-node-log');
  });
}

await check('another origin cannot submit a workflow (CSRF)', async () => {
  const before = await apiGet('/api/v1/workflows/default');
  // A page on another origin posts a form (the classic CSRF) and a fetch at the API.
  const evil = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.end(`<form id=f method=POST enctype=text/plain action="${url}/api/v1/workflows/default">
      <input name='{"manifest": "x", "a' value='": 1}'></form>
      <script>
        fetch(${JSON.stringify(url)} + '/api/v1/workflows/default', {method: 'POST', mode: 'no-cors', body: '{}'})
          .finally(() => document.getElementById('f').submit());
      </script>`);
  });
  await new Promise(r => evil.listen(0, '127.0.0.1', r));
  const evilUrl = `http://127.0.0.1:${evil.address().port}/`;
  const responses = [];
  page.on('response', r => { if (r.url().startsWith(url + '/api/')) responses.push(r.status()); });
  await page.goto(evilUrl);
  await page.waitForURL(u => u.toString().startsWith(url), { timeout: 10000 }).catch(() => {});
  await page.waitForTimeout(500);
  evil.close();
  assert(responses.length > 0 && responses.every(s => s === 403), 'cross-origin requests got ' + JSON.stringify(responses));
  const after = await apiGet('/api/v1/workflows/default');
  assert(after.items.length === before.items.length, 'a cross-origin request created a workflow');
});

await check('log out: the header\'s button posts /logout, then every page leads to the login page', async () => {
  await page.goto(url + '/#/workflows');
  const button = page.locator('form.logout button');
  await button.waitFor({ state: 'visible', timeout: 10000 });
  await shot('logout-button');
  await button.click();
  await page.waitForURL(u => u.pathname === '/login', { timeout: 10000 });
  await page.goto(url + '/#/workflows');
  await page.waitForURL(u => u.pathname === '/login', { timeout: 10000 });
  const api = await page.evaluate(async () => (await fetch('/api/v1/info')).status);
  assert(api === 401, 'the API answered ' + api + ' after logging out');
  expectedUnauthorized++;
});

const unexpected = consoleErrors.filter(e => !e.includes('403') && !e.includes('Forbidden'))
  .filter(e => !(e.includes('status of 400') && expectedBadRequests-- > 0))
  .filter(e => !(e.includes('status of 401') && expectedUnauthorized-- > 0));
if (unexpected.length) { failures++; console.log('FAIL console errors:\n  ' + unexpected.join('\n  ')); }
await browser.close();
console.log(failures ? `${failures} check(s) failed` : 'all browser checks passed');
process.exit(failures ? 1 : 0);
