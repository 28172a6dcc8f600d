import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConsole, consoleBuilt } from '../scripts/build-web.js';
import { ROOT_TOKEN } from './helpers/app.js';
import {
  browserTests,
  freePort,
  launchChromium,
  newConsoleContext,
  screenshot,
  seriousViolations,
} from './helpers/browser.js';
import { COPILOT_MASTER_KEY } from './helpers/copilot.js';
import { pdf } from './helpers/documents.js';
import { startIdp, type TestIdp } from './helpers/oidc-idp.js';
import {
  REPO_ROOT,
  startServe,
  tempDataDir,
  type RampartProcess,
} from './helpers/serve-process.js';
import { startActionServer, type ActionServer } from './fakes/fake-action-server.js';
import { startAgentUpstream, type AgentUpstream } from './fakes/fake-openai-agent.js';
import { startFakeOpenAI, type FakeUpstream } from './fakes/fake-openai-upstream.js';

// The console end to end in a real chromium against a real `rampart serve`, the fake upstreams
// and a real OpenID Connect provider. Skips without /usr/bin/chromium unless
// RAMPART_BROWSER_TESTS=required (CI), where a missing browser fails instead.
const run = browserTests.available;

describe.runIf(browserTests.required && !browserTests.available)('console browser suite', () => {
  it('has chromium at /usr/bin/chromium (RAMPART_BROWSER_TESTS=required)', () => {
    expect.fail('chromium is missing: apt-get install -y chromium');
  });
});

describe.runIf(run)('web console in chromium', () => {
  const data = tempDataDir();
  let server: RampartProcess & { baseUrl: string };
  let base: string;
  let idp: TestIdp;
  let fake: FakeUpstream;
  let agentUpstream: AgentUpstream;
  let actions: ActionServer;
  let browser: Browser;
  let admin: { context: BrowserContext; errors: string[] };
  let page: Page;
  let ownerKey: string;
  const slug = 'acme';

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ownerKey}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    expect(res.status, `${method} ${path}: ${text}`).toBeLessThan(300);
    return (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  };

  /** No serious or critical axe violation, and a screenshot, for the page as it is now. */
  const audit = async (p: Page, name: string) => {
    // Polled: a dialog or page that is still fading in (Mantine's transitions) has colours
    // half-way, which axe reads as low contrast; a violation that stays still fails.
    await expect
      .poll(() => seriousViolations(p), { message: `axe on ${name}`, timeout: 10_000 })
      .toEqual([]);
    await screenshot(p, name);
  };

  /** Picks an option of the select labelled `label` (Mantine's combobox). */
  const pick = async (p: Page, label: string, option: string) => {
    await p.getByLabel(label, { exact: true }).first().click();
    await p.getByRole('option', { name: option, exact: true }).click();
  };

  /** Picks an option of a required select (its label carries the asterisk: not matched exactly). */
  const pickIn = async (p: Page, label: string, option: string) => {
    await p.getByLabel(label).first().click();
    await p.getByRole('option', { name: option, exact: true }).click();
  };

  /** Signs in on the console's sign-in page with the owner's API key (kept in memory only). */
  const signInWithKey = async (p: Page) => {
    await p.goto(`${base}/`);
    await p.getByRole('tab', { name: 'API key' }).click();
    await p.getByRole('textbox', { name: 'API key' }).fill(ownerKey);
    await p.getByRole('button', { name: 'Use this key' }).click();
    await p.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
  };

  /** Follows the navigation's link to a page. */
  const openPage = (p: Page, name: string) =>
    p.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name, exact: true }).click();

  /** The whole OpenID Connect sign-in from the console's sign-in page, as `login`. */
  const signInWithOidc = async (p: Page, login: string) => {
    await p.goto(`${base}/`);
    await p.getByRole('tab', { name: 'Single sign-on' }).click();
    await p.getByRole('tabpanel').getByLabel('Tenant').fill(slug);
    await p.getByRole('link', { name: 'Continue with your identity provider' }).click();
    await p.locator('input[name="login"]').fill(login);
    await p.locator('input[name="password"]').fill('x');
    await p.locator('button[type="submit"]').click();
    // The consent page of oidc-provider's development interactions.
    await p.locator('button[type="submit"]').click();
    await p.waitForURL(`${base}/`);
  };

  beforeAll(async () => {
    if (!consoleBuilt()) await buildConsole();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    [idp, fake, agentUpstream, actions] = await Promise.all([
      startIdp(`${base}/auth/callback`, `${base}/`),
      startFakeOpenAI(),
      startAgentUpstream(),
      startActionServer(),
    ]);
    server = await startServe({
      PORT: String(port),
      PUBLIC_URL: base,
      RAMPART_DATA_DIR: data.dir,
      RAMPART_ROOT_TOKEN: ROOT_TOKEN,
      RAMPART_MASTER_KEY: COPILOT_MASTER_KEY,
      OUTBOUND_ALLOW_PRIVATE_ADDRESSES: 'true',
      GATEWAY_USAGE_FLUSH_MS: '200',
      // Home's errors come from the daily rollups: roll up every second rather than every minute.
      ANALYTICS_ROLLUP_INTERVAL_MS: '1000',
    });
    const created = await fetch(`${base}/admin/v1/tenants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ROOT_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ slug, name: 'Acme' }),
    });
    ownerKey = String(((await created.json()) as { apiKey: string }).apiKey);
    await api('PUT', '/v1/identity/oidc', {
      issuer: idp.issuer,
      clientId: idp.clientId,
      clientSecret: idp.clientSecret,
      scopes: ['openid', 'email', 'profile', 'groups'],
      roleMapping: { 'rampart-admins': 'admin' },
      defaultRole: 'viewer',
    });
    idp.accounts.set('ada', { email: 'ada@example.com', name: 'Ada', groups: ['rampart-admins'] });
    idp.accounts.set('vic', { email: 'vic@example.com', name: 'Vic', groups: [] });
    browser = await launchChromium();
    admin = await newConsoleContext(browser);
    page = await admin.context.newPage();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    if (server) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    await Promise.all([idp?.close(), fake?.close(), agentUpstream?.close(), actions?.close()]);
    data.cleanup();
  });

  it('signs in with the tenant’s OpenID Connect provider and lands on Home', async () => {
    await page.goto(`${base}/`);
    await expect
      .poll(() => page.getByRole('heading', { name: 'Sign in to Rampart' }).count())
      .toBe(1);
    await audit(page, 'sign-in');
    await signInWithOidc(page, 'ada');
    const started = Date.now();
    await page.reload();
    await page.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
    // Reported, not asserted (issue #27): the home page interactive on this machine.
    console.log(`console: home page interactive ${Date.now() - started} ms after reload`);
    await expect.poll(() => page.getByText('admin').first().isVisible()).toBe(true);
    await audit(page, 'home');
  });

  it('uploads a PDF, watches it become ready, and opens its chunks', async () => {
    await openPage(page, 'Documents');
    await page.getByRole('heading', { name: 'Documents', level: 1 }).waitFor();
    const file = join(tmpdir(), `handbook-${process.pid}.pdf`);
    writeFileSync(
      file,
      pdf([
        'Welcome to the Acme handbook.',
        'Holidays: every employee receives thirty days of paid leave per year.',
      ]),
    );
    await page.getByLabel('Files to upload').setInputFiles(file);
    await page.getByText('uploaded').waitFor();
    const row = page.getByTestId('document-row').filter({ hasText: `handbook-${process.pid}.pdf` });
    await row.getByText('ready').waitFor({ timeout: 60_000 });
    await expect.poll(() => row.locator('td').nth(2).textContent()).toBe('2');
    await audit(page, 'documents');
  });

  it('asks a question and opens the cited page of the document', async () => {
    await openPage(page, 'Search and ask');
    await page.getByLabel('Question').fill('How many days of paid leave per year?');
    await page.getByRole('button', { name: 'Ask' }).click();
    const citation = page.getByTestId('citation').first();
    await citation.waitFor();
    expect(await page.getByTestId('answer').textContent()).toContain('thirty days');
    await audit(page, 'ask');
    const cites = (await citation.textContent()) ?? '';
    const citedPage = /page (\d+)/.exec(cites)?.[1];
    expect(citedPage).toBeDefined();
    await citation.click();
    await page.waitForURL(new RegExp(`/documents/[0-9a-f-]+\\?page=${citedPage}&chunk=`));
    await page.getByText(`Opened at page ${citedPage}.`).waitFor();
    const cited = page.locator('[data-cited]');
    await cited.first().waitFor();
    expect(await cited.first().textContent()).toContain('thirty days of paid leave');
    await audit(page, 'document');
  });

  it('searches with scores, and uploads a tagged document and deletes it', async () => {
    await openPage(page, 'Search and ask');
    await page.getByText('Search: hybrid', { exact: true }).click();
    await page.getByLabel('Query').fill('paid leave');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    const hit = page.getByTestId('search-hit').first();
    await hit.waitFor();
    expect(await hit.textContent()).toMatch(/handbook-\d+\.pdf.*score \d\.\d{3}/);
    await audit(page, 'search');

    await openPage(page, 'Documents');
    await page.getByLabel('Tags (comma-separated)').fill('draft, hr');
    const file = join(tmpdir(), `notes-${process.pid}.md`);
    writeFileSync(file, '# Notes\n\nA draft that is deleted again.\n');
    await page.getByLabel('Files to upload').setInputFiles(file);
    const row = page.getByTestId('document-row').filter({ hasText: 'draft, hr' });
    await row.getByText('ready').waitFor({ timeout: 60_000 });
    const docs = (await api('GET', '/v1/documents')) as {
      data: { id: string; tags: string[]; groups: string[] }[];
    };
    const tagged = docs.data.find((d) => d.tags.includes('draft'));
    expect(tagged).toMatchObject({ tags: ['draft', 'hr'], groups: [] });
    page.once('dialog', (d) => void d.accept());
    await row.getByRole('button', { name: /^Delete / }).click();
    await expect.poll(() => row.count()).toBe(0);
    const after = (await api('GET', '/v1/documents')) as { data: { id: string }[] };
    expect(after.data.map((d) => d.id)).not.toContain(tagged?.id);
  });

  it('creates a provider and a route, then streams a chat answer through them', async () => {
    await openPage(page, 'Gateway');
    await page.getByLabel('Provider name').fill('fake');
    await page.getByLabel('Base URL').fill(fake.baseUrl);
    await page.getByLabel('Provider API key').fill('sk-browser-secret');
    await page.getByRole('button', { name: 'Add provider' }).click();
    await page.getByRole('cell', { name: 'fake', exact: true }).waitFor();
    expect(await page.content()).not.toContain('sk-browser-secret');
    await page.getByLabel('Alias').fill('assistant');
    await page.getByPlaceholder('Pick a provider').click();
    await page.getByRole('option', { name: 'fake' }).click();
    await page.getByLabel('Target 1 model').fill('gpt-4o-mini');
    await page.getByRole('button', { name: 'Add route' }).click();
    await page.getByRole('cell', { name: 'assistant', exact: true }).waitFor();
    await audit(page, 'gateway');

    await openPage(page, 'Chat');
    await expect.poll(() => page.getByLabel('Model alias').first().inputValue()).toBe('assistant');
    await page.getByLabel('Message').fill('hello from the console');
    await page.getByRole('button', { name: 'Send' }).click();
    await expect
      .poll(() => page.getByTestId('assistant-message').textContent())
      .toContain('hello from the console');
    await page.getByTestId('chat-stats').waitFor();
    // The request's cost at the built-in price of the model that answered, and Rampart's own time.
    const tokens = /(\d+) prompt \+ (\d+) completion/.exec(
      (await page.getByTestId('chat-stats').textContent()) ?? '',
    );
    const cost = (Number(tokens?.[1]) * 0.15 + Number(tokens?.[2]) * 0.6) / 1e6;
    expect(await page.getByTestId('chat-cost').textContent()).toBe(
      `cost $${cost.toFixed(6)} (gpt-4o-mini at $0.15/$0.6 per M)`,
    );
    expect(await page.getByTestId('chat-overhead').textContent()).toMatch(
      /^gateway overhead \d+\.\d ms$/,
    );
    const sent = fake.requests.at(-1)?.body;
    expect(sent?.stream).toBe(true);
    expect(sent?.model).toBe('gpt-4o-mini');
    await audit(page, 'chat');
  });

  it('creates a route with two weighted targets and a fallback in the form, then edits it', async () => {
    await openPage(page, 'Gateway');
    await page.getByRole('cell', { name: 'assistant', exact: true }).waitFor();
    await page.getByLabel('Alias').fill('canary');
    await pickIn(page, 'Target 1 provider', 'fake');
    await page.getByLabel('Target 1 model').fill('gpt-4o-mini');
    await page.getByLabel('Target 1 weight').fill('9');
    await page.getByRole('button', { name: 'Add target' }).click();
    await pickIn(page, 'Target 2 provider', 'fake');
    await page.getByLabel('Target 2 model').fill('gpt-4o');
    await page.getByLabel('Target 2 weight').fill('1');
    await page.getByRole('button', { name: 'Add fallback' }).click();
    await pickIn(page, 'Fallback 1 provider', 'fake');
    await page.getByLabel('Fallback 1 model').fill('gpt-4o-backup');
    await page.getByRole('button', { name: 'Add route' }).click();
    const row = page.getByTestId('route-row').filter({ hasText: 'canary' });
    await row.getByTestId('route-fallbacks').filter({ hasText: 'fake/gpt-4o-backup' }).waitFor();
    expect(await row.getByTestId('route-target').allTextContents()).toEqual([
      'fake/gpt-4o-mini 9 · 90%',
      'fake/gpt-4o 1 · 10%',
    ]);
    expect(await api('GET', '/v1/routes/canary')).toMatchObject({
      alias: 'canary',
      targets: [
        { provider: 'fake', model: 'gpt-4o-mini', weight: 9 },
        { provider: 'fake', model: 'gpt-4o', weight: 1 },
      ],
      fallbacks: [{ provider: 'fake', model: 'gpt-4o-backup' }],
    });
    // The form is empty again: one blank target, no fallback.
    expect(await page.getByTestId('target-row').count()).toBe(1);
    expect(await page.getByTestId('fallback-row').count()).toBe(0);
    await audit(page, 'gateway-routes');

    // Edit: the form loads the route; a weight changed and the fallback dropped is what is stored.
    await page.getByRole('button', { name: 'Edit route canary' }).click();
    expect(await page.getByLabel('Alias').inputValue()).toBe('canary');
    await page.getByLabel('Target 2 weight').fill('3');
    await page.getByRole('button', { name: 'Remove fallback 1' }).click();
    await page.getByRole('button', { name: 'Save route' }).click();
    await row.getByTestId('route-fallbacks').filter({ hasText: '—' }).waitFor();
    expect(await api('GET', '/v1/routes/canary')).toMatchObject({
      targets: [
        { provider: 'fake', model: 'gpt-4o-mini', weight: 9 },
        { provider: 'fake', model: 'gpt-4o', weight: 3 },
      ],
      fallbacks: [],
    });
  });

  it('creates an API key and shows its secret exactly once', async () => {
    await openPage(page, 'API keys');
    await page.getByLabel('Key name').fill('ci-bot');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = (await page.getByTestId('secret-once').textContent()) ?? '';
    expect(secret).toMatch(/^rmp_/);
    const me = await fetch(`${base}/v1/me`, { headers: { authorization: `Bearer ${secret}` } });
    expect(me.status).toBe(200);
    await page.getByTestId('key-row').filter({ hasText: 'ci-bot' }).waitFor();
    await audit(page, 'keys');
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await expect.poll(() => page.getByTestId('secret-once').count()).toBe(0);
    await page.reload();
    await page.getByTestId('key-row').filter({ hasText: 'ci-bot' }).waitFor();
    expect(await page.content()).not.toContain(secret);
  });

  it('creates a key limited to one alias with its own limits, and edits them', async () => {
    await openPage(page, 'API keys');
    await page.getByLabel('Key name').fill('fenced');
    const models = page.getByRole('combobox', { name: 'Models' });
    await models.fill('assistant');
    await models.press('Enter');
    await page.getByLabel('Requests per minute').fill('30');
    await page.getByLabel('Budget (USD)').fill('5');
    await pick(page, 'Budget period', 'month');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = (await page.getByTestId('secret-once').textContent()) ?? '';
    expect(secret).toMatch(/^rmp_/);
    const row = page.getByTestId('key-row').filter({ hasText: 'fenced' });
    await row
      .getByTestId('key-models')
      .filter({ hasText: /^assistant$/ })
      .waitFor();
    expect(await row.getByTestId('key-limits').textContent()).toBe('30 rpm · $5/month');
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await audit(page, 'keys-limits');

    // The server holds the key to its alias: another alias is refused, its own one answers.
    const chatAs = (model: string) =>
      fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
      });
    const refused = await chatAs('canary');
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
      'model_not_allowed',
    );
    expect((await chatAs('assistant')).status).toBe(200);

    // Edit in the dialog: a second alias and another rate; the budget stays.
    await page.getByRole('button', { name: 'Edit key fenced' }).click();
    const dialog = page.getByRole('dialog', { name: 'Models and limits of fenced' });
    const dialogModels = dialog.getByRole('combobox', { name: 'Models' });
    await dialogModels.fill('canary');
    await dialogModels.press('Enter');
    await dialog.getByLabel('Requests per minute').fill('60');
    await audit(page, 'keys-edit');
    await dialog.getByRole('button', { name: 'Save key' }).click();
    await expect.poll(() => dialog.count()).toBe(0);
    await row.getByTestId('key-models').filter({ hasText: 'assistant, canary' }).waitFor();
    expect(await row.getByTestId('key-limits').textContent()).toBe('60 rpm · $5/month');
    const keys = (await api('GET', '/v1/api-keys')) as {
      data: { name: string; models: string[] | null; limits: unknown }[];
    };
    expect(keys.data.find((k) => k.name === 'fenced')).toMatchObject({
      models: ['assistant', 'canary'],
      limits: { rpm: 60, budgetUsd: 5, budgetPeriod: 'month' },
    });
    // The change reaches the gateway at once (the key's cache is dropped on change).
    await expect.poll(async () => (await chatAs('canary')).status).toBe(200);
  });

  it('approves a pending tool call and the run finishes', async () => {
    await api('POST', '/v1/providers', {
      name: 'agents',
      type: 'openai',
      baseUrl: agentUpstream.baseUrl,
      apiKey: 'sk-fake',
    });
    await api('POST', '/v1/routes', {
      alias: 'agent',
      targets: [{ provider: 'agents', model: 'gpt-4o-mini' }],
    });
    await api('POST', '/v1/tools', {
      name: 'tickets.close',
      description: 'Closes a ticket.',
      parameters: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
      request: { method: 'POST', url: `${actions.baseUrl}/tickets/{id}/close` },
    });
    const agent = await api('POST', '/v1/agents', {
      name: 'helpdesk',
      instructions: 'Close tickets.',
      model: 'agent',
      tools: [{ name: 'tickets.close', policy: 'ask' }],
    });
    agentUpstream.script = (req) =>
      req.messages.some((m) => m.role === 'tool')
        ? { content: 'Closed.' }
        : { toolCalls: [{ name: 'tickets_close', arguments: { id: 't-42' } }] };
    const started = await api('POST', `/v1/agents/${String(agent.id)}/runs`, {
      input: 'Close t-42',
    });
    await openPage(page, 'Approvals');
    const card = page.getByTestId('approval');
    await card.waitFor({ timeout: 30_000 });
    expect(await card.textContent()).toContain('t-42');
    // Who asked: the run was started with the owner's bootstrap key.
    expect(await card.getByTestId('asked-by').textContent()).toBe(
      'asked by key owner (bootstrap) (owner)',
    );
    await audit(page, 'approvals');
    await card.getByLabel('Reason (recorded in the audit log)').fill('ticket is resolved');
    await card.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => card.count(), { timeout: 15_000 }).toBe(0);
    await page
      .getByTestId('run')
      .filter({ hasText: String(started.id).slice(0, 8) })
      .getByText('succeeded')
      .waitFor({ timeout: 30_000 });
    expect(actions.to('POST /tickets/t-42/close')).toHaveLength(1);
  });

  it('defines an agent in the form, starts a run and watches its timeline live', async () => {
    agentUpstream.script = (req) =>
      req.messages.some((m) => m.role === 'tool')
        ? { content: 'Ticket t-7 is closed.' }
        : { toolCalls: [{ name: 'tickets_close', arguments: { id: 't-7' } }] };
    await openPage(page, 'Agents');
    await page.getByRole('heading', { name: 'Define an agent' }).waitFor();
    await page.getByLabel('Agent name').fill('closer');
    await page.getByLabel('Instructions').fill('Close the ticket you are given.');
    await page.getByPlaceholder('Pick a route').click();
    await page.getByRole('option', { name: 'agent', exact: true }).click();
    await page.getByPlaceholder('Pick a tool').click();
    await page.getByRole('option', { name: 'tickets.close' }).click();
    await page.getByRole('button', { name: 'Add tool' }).click();
    await pick(page, 'Approver role for tickets.close', 'admin');
    await page.getByRole('button', { name: 'Create agent' }).click();
    await page.getByTestId('agent-row').filter({ hasText: 'closer' }).waitFor();
    const agents = (await api('GET', '/v1/agents')) as {
      data: { name: string; model: string; tools: unknown[] }[];
    };
    expect(agents.data.find((a) => a.name === 'closer')).toMatchObject({
      model: 'agent',
      tools: [{ name: 'tickets.close', policy: 'ask', approverRole: 'admin' }],
    });
    await audit(page, 'agents');

    // The run is started from the page (the form picked the new agent), and its timeline fills
    // from the live event stream: the approval made elsewhere shows up without a reload.
    await page.evaluate(() => Reflect.set(globalThis, 'consoleMarker', 'same page'));
    await page.getByLabel('Task').fill('Close t-7');
    await page.getByRole('button', { name: 'Start run' }).click();
    const timeline = page.getByTestId('run-timeline');
    await timeline.getByText('approval.requested').waitFor({ timeout: 30_000 });
    const waiting = (await api('GET', '/v1/runs?status=awaiting_approval')) as {
      data: { id: string; pendingApprovals: { callId: string; arguments: unknown }[] }[];
    };
    const run = waiting.data.find((r) =>
      r.pendingApprovals.some((p) => JSON.stringify(p.arguments).includes('t-7')),
    );
    const call = run?.pendingApprovals[0]?.callId;
    expect(call).toBeDefined();
    await api('POST', `/v1/runs/${String(run?.id)}/approvals/${String(call)}`, {
      decision: 'approve',
      reason: 'from the API',
    });
    await timeline.getByText('run.succeeded').waitFor({ timeout: 30_000 });
    await expect.poll(() => page.getByTestId('run-status').textContent()).toBe('succeeded');
    expect(await timeline.getByText('tool.call.succeeded').count()).toBe(1);
    expect(await page.evaluate(() => Reflect.get(globalThis, 'consoleMarker'))).toBe('same page');
    expect(actions.to('POST /tickets/t-7/close')).toHaveLength(1);
    await audit(page, 'agent-run');
  });

  it('asks the sample SQL source a question and shows the SQL, the rows and a chart', async () => {
    await api('POST', '/v1/routes', {
      alias: 'default',
      targets: [{ provider: 'agents', model: 'gpt-4o-mini' }],
    });
    agentUpstream.script = () => ({
      content:
        '```sql\nSELECT food_type, count(*) AS restaurants FROM restaurant GROUP BY food_type ORDER BY 2 DESC, 1\n```\nRestaurants per food type.',
    });
    await openPage(page, 'SQL');
    await page.getByRole('button', { name: 'Add the sample database' }).click();
    await expect
      .poll(() => page.getByLabel('Source').first().inputValue(), { timeout: 90_000 })
      .toBe('sample');
    await page
      .getByRole('button', { name: /restaurant/ })
      .first()
      .waitFor({ timeout: 60_000 });
    await page.getByLabel('Question').fill('How many restaurants are there per food type?');
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    await page.getByTestId('sql-result').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('sql-text').textContent()).toContain('GROUP BY food_type');
    await page.getByRole('cell', { name: 'Italian' }).waitFor();
    await expect
      .poll(() => page.getByTestId('sql-chart').locator('.recharts-bar-rectangle').count())
      .toBeGreaterThan(1);
    await audit(page, 'sql');

    // A statement that writes is refused, and the page says why in words (the problem's detail).
    agentUpstream.script = () => ({ content: '```sql\nDELETE FROM restaurant\n```' });
    await page.getByLabel('Question').fill('Remove every restaurant.');
    await page.getByRole('button', { name: 'Ask', exact: true }).click();
    const refusal = page
      .getByRole('alert')
      .filter({ hasText: 'The question was refused or failed' });
    await refusal.waitFor({ timeout: 60_000 });
    const why = (await refusal.textContent()) ?? '';
    expect(why.replace('The question was refused or failed', '').trim().length).toBeGreaterThan(10);
    expect(why).not.toMatch(/[{}]|\[object/);
    await audit(page, 'sql-refused');
  }, 180_000);

  it('edits the row filters, column masks and annotations of a source', async () => {
    await api('POST', '/v1/groups', { name: 'emea' });
    await page.reload();
    await page.getByRole('heading', { name: 'Row filters and column masks' }).waitFor();
    await page.getByRole('button', { name: 'Add row filter' }).click();
    await pick(page, 'Filter 1 table', 'restaurant');
    await pick(page, 'Filter 1 group', 'emea');
    await page.getByLabel('Filter 1 condition').fill('pg_sleep(1) IS NULL');
    await page.getByRole('button', { name: 'Save policies' }).click();
    // Refused on layer 1, explained, and nothing stored.
    await page.getByText('The policies were refused').waitFor();
    expect(await api('GET', '/v1/sql/sources/sample/policies')).toEqual({
      rowFilters: [],
      masks: [],
    });
    await page.getByLabel('Filter 1 condition').fill("city_name = 'New York'");
    await page.getByRole('button', { name: 'Add column mask' }).click();
    await pick(page, 'Mask 1 table', 'restaurant');
    await pick(page, 'Mask 1 column', 'rating');
    await page.getByRole('button', { name: 'Save policies' }).click();
    await page.getByText('Policies saved.').waitFor();
    expect(await api('GET', '/v1/sql/sources/sample/policies')).toEqual({
      rowFilters: [{ table: 'restaurant', group: 'emea', where: "city_name = 'New York'" }],
      masks: [{ table: 'restaurant', column: 'rating', exceptGroups: [] }],
    });

    await pick(page, 'Table or column', 'restaurant.rating');
    await page.getByLabel('Description').fill('Stars, 0 to 5.');
    await page.getByRole('button', { name: 'Save annotation' }).click();
    await page.getByTestId('annotation').filter({ hasText: 'Stars, 0 to 5.' }).waitFor();
    // The schema browser shows the annotation beside its column.
    await page
      .getByRole('button', { name: /^restaurant/ })
      .first()
      .click();
    await page.getByText('— Stars, 0 to 5.').waitFor();
    await audit(page, 'sql-policies');
    await api('PUT', '/v1/sql/sources/sample/policies', {});
  }, 120_000);

  it('shows people, the audit log and Home with traffic, in both themes and at tablet width', async () => {
    await openPage(page, 'People');
    await page.getByRole('cell', { name: 'ada@example.com' }).waitFor();
    await audit(page, 'people');
    await openPage(page, 'Audit log');
    await page.getByTestId('audit-row').filter({ hasText: 'api_key.created' }).first().waitFor();
    await audit(page, 'audit');
    // A call the upstream fails (the fake answers 500 for this model) is an error on Home.
    await api('POST', '/v1/routes', {
      alias: 'broken',
      targets: [{ provider: 'fake', model: 'fail-500' }],
    });
    const failed = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ownerKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'broken', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(failed.status).toBeGreaterThanOrEqual(500);
    const kpiErrors = async () =>
      ((await api('GET', '/v1/analytics/kpis?groupBy=day')) as { totals: { errors: number } })
        .totals.errors;
    await expect.poll(kpiErrors, { timeout: 30_000 }).toBeGreaterThan(0);
    await openPage(page, 'Home');
    await page.getByText('Requests, errors and cost by day').waitFor();
    const errors = String(await kpiErrors());
    await expect
      .poll(() => page.getByTestId('stat-errors').locator('p').last().textContent())
      .toBe(errors);
    // Top keys by name: the key limited to one alias has made calls.
    await page.getByTestId('top-key').filter({ hasText: 'fenced' }).waitFor();
    await expect
      .poll(() => page.locator('.recharts-area').count(), { timeout: 15_000 })
      .toBeGreaterThan(0);
    await audit(page, 'home-traffic');
    if (process.env.UPDATE_CONSOLE_SCREENSHOT)
      copyFileSync(
        join(REPO_ROOT, 'test-results/console/home-traffic.png'),
        resolve(REPO_ROOT, 'docs/console.png'),
      );
    await page.getByRole('button', { name: 'Switch to the dark theme' }).click();
    await audit(page, 'home-dark');
    await page.setViewportSize({ width: 820, height: 1180 });
    await audit(page, 'home-tablet');
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(admin.errors.filter((e) => /Content.Security.Policy|Refused/i.test(e))).toEqual([]);
  });

  it('sets a price and the tenant limits on the Gateway page', async () => {
    await openPage(page, 'Gateway');
    await page.getByLabel('Price model').fill('gpt-4o-mini');
    await page.getByLabel(/^Input \$\/M/).fill('1.5');
    await page.getByLabel('Output $/M').fill('6');
    await page.getByRole('button', { name: 'Set price' }).click();
    await page
      .getByTestId('price-row')
      .filter({ hasText: 'gpt-4o-mini' })
      .filter({ hasText: 'tenant' })
      .waitFor();
    const prices = (await api('GET', '/v1/prices')) as {
      data: { model: string; input: number; output: number; source: string }[];
    };
    expect(prices.data.find((p) => p.source === 'tenant')).toMatchObject({
      model: 'gpt-4o-mini',
      input: 1.5,
      output: 6,
    });
    await page.getByLabel('Requests per minute').fill('600');
    await page.getByLabel('Budget (USD)').fill('50');
    await pick(page, 'Budget period', 'month');
    await page.getByRole('button', { name: 'Save limits' }).click();
    await page.getByText('Limits saved.').waitFor();
    expect(await api('GET', '/v1/limits')).toEqual({
      rpm: 600,
      budgetUsd: 50,
      budgetPeriod: 'month',
    });
    await audit(page, 'gateway-costs');
    await api('PUT', '/v1/limits', {});
  });

  it('manages group memberships and the identity settings, with the SCIM token shown once', async () => {
    await openPage(page, 'People');
    await page.getByLabel('New group').fill('finance');
    await page.getByRole('button', { name: 'Create group' }).click();
    await page.getByRole('button', { name: 'Members of finance' }).click();
    await page.getByPlaceholder('Pick a person').click();
    await page.getByRole('option', { name: 'ada@example.com' }).click();
    await page.getByRole('button', { name: 'Add to group' }).click();
    await page.getByTestId('group-member').filter({ hasText: 'ada@example.com' }).waitFor();
    await expect
      .poll(() =>
        page.getByRole('row').filter({ hasText: 'ada@example.com' }).first().textContent(),
      )
      .toContain('finance');
    await page.getByRole('button', { name: 'Remove ada@example.com from finance' }).click();
    await expect.poll(() => page.getByTestId('group-member').count()).toBe(0);

    // Identity settings are the owner's (identity:manage): an admin is not offered them.
    expect(await page.getByRole('heading', { name: 'Identity settings' }).count()).toBe(0);
    const owner = await newConsoleContext(browser);
    const p = await owner.context.newPage();
    try {
      await signInWithKey(p);
      await p
        .getByRole('navigation', { name: 'Pages' })
        .getByRole('link', { name: 'People' })
        .click();
      await p.getByTestId('oidc-status').filter({ hasText: idp.issuer }).waitFor();
      await p.getByRole('button', { name: 'Issue SCIM token' }).click();
      const token = (await p.getByTestId('secret-once').textContent()) ?? '';
      expect(token.length).toBeGreaterThan(20);
      const scim = await fetch(`${base}/scim/v2/Users`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(scim.status).toBe(200);
      await audit(p, 'people-admin');
      await p.getByRole('button', { name: 'I have stored it' }).click();
      await expect.poll(() => p.getByTestId('secret-once').count()).toBe(0);
      await p
        .getByTestId('scim-status')
        .filter({ hasText: /^Token / })
        .waitFor();
      expect(await p.content()).not.toContain(token);
    } finally {
      await owner.context.close();
    }
  }, 120_000);

  it('maps identity provider groups to roles in the form, and a mapped person signs in with theirs', async () => {
    const owner = await newConsoleContext(browser);
    const p = await owner.context.newPage();
    const openPeople = () =>
      p.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'People' }).click();
    try {
      await signInWithKey(p);
      await openPeople();
      // The mapping stored through the API at setup is loaded into the rows.
      await expect.poll(() => p.getByLabel('Mapping 1 group').inputValue()).toBe('rampart-admins');
      await p.getByRole('button', { name: 'Add group mapping' }).click();
      await p.getByLabel('Mapping 2 group').fill('rampart-members');
      await pick(p, 'Mapping 2 role', 'member');
      await p.getByRole('button', { name: 'Add group mapping' }).click();
      await p.getByLabel('Mapping 3 group').fill('to-be-removed');
      await p.getByRole('button', { name: 'Remove mapping 3' }).click();
      await p.getByLabel('Groups claim').fill('groups');
      await p.getByLabel('Client secret').fill(idp.clientSecret);
      await p.getByRole('button', { name: 'Save identity provider' }).click();
      await p.getByTestId('oidc-status').filter({ hasText: 'rampart-members → member' }).waitFor();
      const stored = await api('GET', '/v1/identity/oidc');
      expect(stored).toMatchObject({
        groupsClaim: 'groups',
        roleMapping: { 'rampart-admins': 'admin', 'rampart-members': 'member' },
        defaultRole: 'viewer',
      });
      expect(Object.keys(stored.roleMapping as object)).toHaveLength(2);
      await audit(p, 'people-oidc-mapping');

      // After a reload (the key is kept in memory only: sign in again) the rows are as saved.
      await p.reload();
      await signInWithKey(p);
      await openPeople();
      await expect.poll(() => p.getByLabel('Mapping 2 group').inputValue()).toBe('rampart-members');
      expect(await p.getByTestId('role-mapping').count()).toBe(2);
    } finally {
      await owner.context.close();
    }

    // Someone in the mapped group signs in through the provider as a member, not the default viewer.
    idp.accounts.set('mel', { email: 'mel@example.com', name: 'Mel', groups: ['rampart-members'] });
    const mel = await newConsoleContext(browser);
    const m = await mel.context.newPage();
    try {
      await signInWithOidc(m, 'mel');
      await m.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
      await m.getByText('member').first().waitFor();
      const links = await m
        .getByRole('navigation', { name: 'Pages' })
        .getByRole('link')
        .allTextContents();
      expect(links).toContain('Agents');
      const users = (await api('GET', '/v1/users')) as { data: { email: string; role: string }[] };
      expect(users.data.find((u) => u.email === 'mel@example.com')?.role).toBe('member');
    } finally {
      await mel.context.close();
    }
  }, 120_000);

  it('verifies the audit chain and exports usage as CSV', async () => {
    await openPage(page, 'Audit log');
    await page.getByRole('button', { name: 'Verify chain' }).click();
    const report = page.getByTestId('chain-report');
    await report.getByText('Chain intact').waitFor();
    const verdict = (await api('GET', '/v1/audit/verify')) as { events: number };
    expect(await report.textContent()).toMatch(/\d+ events verified/);
    expect(verdict.events).toBeGreaterThan(5);
    await audit(page, 'audit-verified');
    // The action filter: only the key creations are left.
    await page.getByLabel('Action').fill('api_key.created');
    await expect
      .poll(async () => {
        const rows = await page.getByTestId('audit-row').allTextContents();
        return rows.length > 0 && rows.every((r) => r.includes('api_key.created'));
      })
      .toBe(true);

    await openPage(page, 'Usage');
    await page.getByTestId('usage-row').first().waitFor();
    await page.getByText('By model', { exact: true }).click();
    await page.getByTestId('usage-row').filter({ hasText: 'gpt-4o-mini' }).waitFor();
    await audit(page, 'usage');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download CSV' }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^usage-by-model-.*\.csv$/);
    const csv = readFileSync(await download.path(), 'utf8');
    const lines = csv.trim().split('\r\n');
    expect(lines[0]).toBe('model,requests,prompt_tokens,completion_tokens,cached_tokens,cost_usd');
    const usage = (await api('GET', '/v1/usage?groupBy=model')) as {
      data: { model: string; requests: number }[];
    };
    const mini = usage.data.find((u) => u.model === 'gpt-4o-mini');
    expect(lines.find((l) => l.startsWith('gpt-4o-mini,'))?.split(',')[1]).toBe(
      String(mini?.requests),
    );
  });

  it('invites a person, who accepts on the sign-in page and signs in with a password', async () => {
    await openPage(page, 'People');
    await page.getByLabel('Invite by e-mail').fill('pat@example.com');
    await page.getByRole('button', { name: 'Invite' }).click();
    const token = (await page.getByTestId('secret-once').textContent()) ?? '';
    expect(token.length).toBeGreaterThan(20);
    const guest = await newConsoleContext(browser);
    const p = await guest.context.newPage();
    try {
      await p.goto(`${base}/`);
      await p.getByRole('tab', { name: 'Invitation' }).click();
      await p.getByLabel('Invitation token').fill(token);
      await p.getByLabel('Choose a password').fill('correct horse battery staple');
      await p.getByRole('button', { name: 'Accept and set password' }).click();
      await p.getByText(`You joined ${slug}`).waitFor();
      await p
        .getByRole('textbox', { name: 'Password', exact: true })
        .fill('correct horse battery staple');
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
      await p.getByText('member').first().waitFor();
      // A member runs agents and queries SQL, but is offered none of the admin actions.
      await p
        .getByRole('navigation', { name: 'Pages' })
        .getByRole('link', { name: 'Agents' })
        .click();
      await p.getByRole('heading', { name: 'Start a run' }).waitFor();
      expect(await p.getByRole('heading', { name: 'Define an agent' }).count()).toBe(0);
      await p.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: 'SQL' }).click();
      await p.getByRole('heading', { name: 'Schema' }).waitFor();
      expect(await p.getByRole('heading', { name: 'Row filters and column masks' }).count()).toBe(
        0,
      );
      expect(await p.getByRole('heading', { name: 'Annotations' }).count()).toBe(0);
      const links = await p
        .getByRole('navigation', { name: 'Pages' })
        .getByRole('link')
        .allTextContents();
      for (const admin of ['Approvals', 'Gateway', 'API keys', 'People', 'Audit log'])
        expect(links).not.toContain(admin);
      await audit(p, 'member-agents');
    } finally {
      await guest.context.close();
    }
  });

  it('signs in with a pasted API key kept in memory only', async () => {
    const operator = await newConsoleContext(browser);
    const p = await operator.context.newPage();
    try {
      await signInWithKey(p);
      await p.getByText('owner · API key').waitFor();
      const stored = await p.evaluate(() => {
        const g = globalThis as unknown as { localStorage: object; sessionStorage: object };
        return JSON.stringify({ ...g.localStorage }) + JSON.stringify({ ...g.sessionStorage });
      });
      expect(stored).not.toContain(ownerKey);
      expect(await operator.context.cookies()).toEqual([]);
      await p.reload();
      await p.getByRole('heading', { name: 'Sign in to Rampart' }).waitFor();
    } finally {
      await operator.context.close();
    }
  });

  it('keeps what was typed when the session ends, and signs in again over the page', async () => {
    await openPage(page, 'Search and ask');
    await page.getByLabel('Question').fill('What do the holidays look like?');
    const users = (await api('GET', '/v1/users')) as { data: { id: string; email: string }[] };
    const ada = users.data.find((u) => u.email === 'ada@example.com');
    await api('DELETE', `/v1/users/${String(ada?.id)}/sessions`);
    await page.getByRole('button', { name: 'Ask' }).click();
    const dialog = page.getByRole('dialog', { name: /session ended/ });
    await dialog.waitFor();
    await audit(page, 'session-ended');
    await dialog.getByRole('tab', { name: 'API key' }).click();
    await dialog.getByRole('textbox', { name: 'API key' }).fill(ownerKey);
    await dialog.getByRole('button', { name: 'Use this key' }).click();
    await expect.poll(() => dialog.count()).toBe(0);
    expect(await page.getByLabel('Question').inputValue()).toBe('What do the holidays look like?');
    await page.getByRole('button', { name: 'Ask' }).click();
    await page.getByTestId('answer').waitFor();
    expect(await page.getByRole('dialog').count()).toBe(0);
  });

  it('is usable by keyboard alone, at tablet width and in the dark theme', async () => {
    /** The label (or name) of the focused element, as a person using a screen reader hears it. */
    const focused = () =>
      page.evaluate(() => {
        type El = {
          textContent: string | null;
          labels?: ArrayLike<{ textContent: string | null }> | null;
          getAttribute(name: string): string | null;
        };
        const doc = (globalThis as unknown as { document: { activeElement: El | null } }).document;
        const el = doc.activeElement;
        const label =
          el?.labels?.[0]?.textContent ?? el?.getAttribute('aria-label') ?? el?.textContent;
        return (label ?? '').replace('*', '').trim();
      });
    const tabTo = async (name: string, key: 'Tab' | 'Shift+Tab' = 'Tab') => {
      for (let i = 0; i < 80; i++) {
        await page.keyboard.press(key);
        if ((await focused()) === name) return;
      }
      throw new Error(`Tab never reached ${name}`);
    };
    /** True when the page scrolls sideways (content wider than the window). */
    const overflows = () =>
      page.evaluate(() => {
        const g = globalThis as unknown as {
          innerWidth: number;
          document: { documentElement: { scrollWidth: number } };
        };
        return g.document.documentElement.scrollWidth > g.innerWidth + 1;
      });

    // Keyboard: from the top of Home to the API keys page, then a key created without a mouse.
    await openPage(page, 'Home');
    await page.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
    await page.evaluate(() => {
      const doc = globalThis as unknown as { document: { activeElement: { blur(): void } | null } };
      doc.document.activeElement?.blur();
    });
    await tabTo('API keys');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
    await tabTo('Key name');
    await page.keyboard.type('typed-bot');
    await page.keyboard.press('Enter');
    await page.getByTestId('secret-once').waitFor();
    await page.getByTestId('key-row').filter({ hasText: 'typed-bot' }).waitFor();
    // The secret is shown above the form: back up to its button.
    await tabTo('I have stored it', 'Shift+Tab');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByTestId('secret-once').count()).toBe(0);

    // Tablet width, dark theme: every admin page fits the window (wide tables scroll inside
    // themselves) and passes axe.
    await page.setViewportSize({ width: 820, height: 1180 });
    const dark = page.getByRole('button', { name: 'Switch to the dark theme' });
    if ((await dark.count()) > 0) await dark.click();
    for (const [name, shot] of [
      ['Documents', 'documents-dark-tablet'],
      ['Gateway', 'gateway-dark-tablet'],
      ['API keys', 'keys-dark-tablet'],
      ['People', 'people-dark-tablet'],
      ['Audit log', 'audit-dark-tablet'],
      ['Usage', 'usage-dark-tablet'],
    ] as const) {
      await openPage(page, name);
      await page.getByRole('heading', { name, level: 1 }).waitFor();
      await page.getByRole('table').first().waitFor();
      expect(await overflows(), `${name} is wider than a tablet`).toBe(false);
      await audit(page, shot);
    }
    await page.getByRole('button', { name: 'Switch to the light theme' }).click();
    await page.setViewportSize({ width: 1280, height: 900 });
  }, 120_000);

  it('shows a viewer no admin pages, and the server refuses an admin call from the page', async () => {
    const viewer = await newConsoleContext(browser);
    const p = await viewer.context.newPage();
    try {
      await signInWithOidc(p, 'vic');
      await p.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
      const nav = p.getByRole('navigation', { name: 'Pages' });
      expect(await nav.getByRole('link').allTextContents()).toEqual([
        'Home',
        'Documents',
        'Search and ask',
        'Usage',
        'Connected applications',
      ]);
      // Every person has Connected applications (their own OAuth grants; none yet).
      await openPage(p, 'Connected applications');
      await p.getByText('No application is connected').waitFor();
      await audit(p, 'viewer-connected-apps');
      await p.goto(`${base}/keys`);
      await p.getByText('Not available to you').waitFor();
      await audit(p, 'viewer-refused');
      const status = await p.evaluate(async () => {
        // Runs in the page (the root tsconfig has no DOM types).
        const { cookie } = (globalThis as unknown as { document: { cookie: string } }).document;
        const csrf = /(?:^|; )rampart_csrf=([^;]+)/.exec(cookie)?.[1] ?? '';
        const res = await fetch('/v1/api-keys', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
          body: JSON.stringify({ name: 'sneaky', role: 'owner' }),
        });
        return { status: res.status, body: await res.text() };
      });
      expect(status.status).toBe(403);
      expect(status.body).toContain('keys:manage');
    } finally {
      await viewer.context.close();
    }
  });
});
