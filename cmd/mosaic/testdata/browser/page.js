// page.js instruments the page (fetch and console.error, before analytics.js loads), then
// run() loads analytics.js with ?key= and ?cdn= from the URL, makes one call of each kind,
// waits for analytics.js to send its client metrics (if Mosaic asks for them), and writes a
// JSON report into #result.
'use strict';

// Every request analytics.js makes, with its status or the browser's error (a CORS refusal
// shows as a TypeError here).
const requests = [];
const nativeFetch = window.fetch.bind(window);
window.fetch = async function (input, init) {
  const rec = {
    method: ((init && init.method) || 'GET').toUpperCase(),
    url: String(input instanceof Request ? input.url : input),
  };
  requests.push(rec);
  try {
    const res = await nativeFetch(input, init);
    rec.status = res.status;
    return res;
  } catch (err) {
    rec.error = String(err);
    throw err;
  }
};

// analytics.js reports failures (settings, metrics, plugins) on the console.
const consoleErrors = [];
const nativeConsoleError = console.error.bind(console);
console.error = function (...args) {
  consoleErrors.push(args.map(String).join(' '));
  nativeConsoleError(...args);
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// describe summarises the Context a call resolved with.
function describe(ctx) {
  const failed = ctx.failedDelivery();
  return {
    messageId: ctx.event.messageId,
    failed: failed ? String(failed.reason) : null,
    errors: ctx.logs().filter((l) => l.level === 'error').map((l) => l.message + ' ' + String(l.extras || '')),
  };
}

async function calls(fail) {
  const params = new URLSearchParams(location.search);
  let metrics = false;
  const analytics = AnalyticsNext.AnalyticsBrowser.load(
    { writeKey: params.get('key'), cdnURL: params.get('cdn') },
    {
      // When Mosaic asks for client metrics (a sample, every 30s), send all of them at once.
      updateCDNSettings: (s) => {
        metrics = Boolean(s.metrics && s.metrics.sampleRate > 0);
        return metrics ? { ...s, metrics: { ...s.metrics, sampleRate: 1, flushTimer: 100 } } : s;
      },
    },
  );
  analytics.catch((err) => fail('analytics.js did not load: ' + err));
  const out = { calls: {} };
  // One call at a time, so that alias runs while the visitor is still anonymous.
  out.calls.page = describe(await analytics.page());
  out.calls.alias = describe(await analytics.alias('user-42'));
  out.calls.identify = describe(await analytics.identify('user-42', { email: 'ada@example.com', name: 'Ada Lovelace' }));
  out.calls.track = describe(await analytics.track('Order Completed', { revenue: 42, currency: 'EUR' }));
  out.calls.group = describe(await analytics.group('acme', { name: 'Acme Inc', plan: 'enterprise' }));
  out.anonymousId = (await analytics.user()).anonymousId();
  out.metrics = metrics;
  for (let i = 0; metrics && i < 100 && !requests.some((r) => /\/m$/.test(r.url) && (r.status || r.error)); i++) {
    await sleep(50);
  }
  return out;
}

function run() {
  let finished = false;
  const done = (out) => {
    if (finished) return;
    finished = true;
    out.requests = requests;
    out.consoleErrors = consoleErrors;
    document.getElementById('result').textContent = JSON.stringify(out);
  };
  const fail = (err) => done({ fatal: String((err && err.stack) || err) });
  calls(fail).then(done, fail);
}
