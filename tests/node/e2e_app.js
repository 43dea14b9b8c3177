// A tiny HTTP service instrumented with its generated Node.js telemetry module, for
// test_e2e_prometheus.py: the Node.js twin of tests/e2e_app.py.
//
//     node e2e_app.js MODULE_PATH
// with OPGEN_METRICS_PORT set and NODE_PATH reaching tests/node/node_modules. setup() serves
// /metrics on that port; the app itself listens on a free loopback port and prints it as
// "listening <port>" once both are up. GET /fail answers 503, any other path 200. It runs until it
// is terminated.
"use strict";

const http = require("http");

async function main(modulePath) {
  const telemetry = require(modulePath);
  await telemetry.setup();
  const server = http.createServer(telemetry.httpHandler((request, response) => {
    response.statusCode = request.url === "/fail" ? 503 : 200;
    response.end("ok\n");
  }));
  server.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
}

main(process.argv[2]).catch((error) => {
  console.error(error);
  process.exit(1);
});
