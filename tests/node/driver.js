// Play a service that uses its generated Node.js telemetry module, then print what Prometheus scrapes.
//
// The Node.js twin of tests/telemetry_driver.py, run by test_instrumentation.py:
//     node driver.js MODULE_PATH PLAN_JSON
// with OPGEN_METRICS_PORT set and NODE_PATH reaching the npm packages (tests/node/node_modules).
// The plan is the one the Python driver reads: http_requests ([method, path], answered by the app
// below), slow_seconds, grpc, queue, stale_seconds, dependencies ([function, call_class]).
// Or one run of a cron job, which pushes to OPGEN_PUSHGATEWAY_URL and prints nothing:
// {"job_run": "success"} or {"job_run": "failure"}.
"use strict";

const http = require("http");

class Unavailable extends Error {
  // What a @grpc/grpc-js ServiceError looks like to the helpers: a numeric status code.
  constructor() {
    super("unavailable");
    this.code = 14;
  }
}

class TimeoutError extends Error {}
class ConnectionError extends Error {}
class JobFailed extends Error {}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The test app: what each path answers (see telemetry_driver.py's wsgi_app). */
function app(slowSeconds) {
  return async (request, response) => {
    const path = request.url.split("?")[0];
    if (path === "/boom") {
      request.socket.destroy();  // the handler failed before answering: the connection is cut
      return;
    }
    if (path === "/slow") {
      await sleep(slowSeconds * 1000);
    }
    if (path.startsWith("/orders/")) {
      request.opgenRoute = "/orders/{id}";
    }
    response.statusCode = { "/fail": 503, "/missing": 404 }[path] || 200;
    response.end("ok");
  };
}

function send(port, method, path) {
  return new Promise((resolve) => {
    const request = http.request({ host: "127.0.0.1", port, method, path, agent: false }, (response) => {
      response.resume();
      response.on("end", resolve);
    });
    request.on("error", resolve);  // /boom: the server cut the connection
    request.end();
  });
}

async function failing(helper, error) {
  try {
    await helper(async () => { throw error; });
  } catch (caught) {
    if (caught === error) {
      return;
    }
    throw caught;
  }
  throw new Error(`the helper swallowed ${error}`);
}

async function jobRun(telemetry, outcome) {
  if (outcome === "success") {
    const result = await telemetry.jobRun(async () => "done");
    if (result !== "done") {
      throw new Error("jobRun lost the run's result");
    }
    return;
  }
  const error = new JobFailed("the report query timed out");
  try {
    await telemetry.jobRun(async () => { throw error; });
  } catch (caught) {
    if (caught === error) {
      return;
    }
    throw caught;
  }
  throw new Error("jobRun swallowed the job's error");
}

function scrape(port) {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path: "/metrics", agent: false }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => { body += chunk; });
      response.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

async function main(modulePath, plan) {
  const telemetry = require(modulePath);
  if (plan.job_run) {
    await jobRun(telemetry, plan.job_run);
    return;
  }
  await telemetry.setup();
  await telemetry.setup();  // idempotent: a second call must not start a second server

  if (plan.http_requests.length) {
    const server = http.createServer(telemetry.httpHandler(app(plan.slow_seconds)));
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    for (const [method, path] of plan.http_requests) {
      await send(server.address().port, method, path);
    }
    await new Promise((resolve) => server.close(resolve));
  }

  if (plan.grpc) {
    await telemetry.grpcServerCall("shop.Inventory/Get", async () => "ok");
    await failing((fn) => telemetry.grpcServerCall("shop.Inventory/Get", fn), new Unavailable());
  }

  if (plan.queue) {
    const now = Date.now();
    await telemetry.messageProcessing("kafka", "jobs", now, async () => {});
    await failing((fn) => telemetry.messageProcessing("kafka", "jobs", now, fn), new TimeoutError());
    await telemetry.messageProcessing("kafka", "jobs", new Date(now - plan.stale_seconds * 1000), () => {});
    await telemetry.messageProcessing("kafka", "jobs", String(now + 60000), async () => {});  // the producer's clock is ahead
    await telemetry.messageProcessing("kafka", "jobs", undefined, async () => {});  // no enqueue time: no age
  }

  for (const [name, callClass] of plan.dependencies) {
    const helper = telemetry[name];
    await helper(async (call) => {
      if (callClass === "HTTPCall") {
        call.statusCode = 200;
      }
    });
    if (callClass === "HTTPCall") {
      await helper(async (call) => { call.statusCode = 503; });
    }
    await failing(helper, callClass === "GRPCCall" ? new Unavailable() : new ConnectionError());
  }

  process.stdout.write(await scrape(Number(process.env.OPGEN_METRICS_PORT)));
  await telemetry.shutdown();
}

main(process.argv[2], JSON.parse(process.argv[3])).catch((error) => {
  console.error(error);
  process.exit(1);
});
