// A tiny HTTP service instrumented with its generated Go telemetry package, for
// test_e2e_prometheus.py: the Go twin of tests/e2e_app.py.
//
// Built in GOPATH mode against the package of the test's service (e2e-shop), run with
// OPGEN_METRICS_PORT set. Setup serves /metrics on that port; the app itself listens on a free
// loopback port and prints it as "listening <port>" once both are up. GET /fail answers 503, any
// other path 200. It runs until it is terminated.
package main

import (
	"fmt"
	"log"
	"net"
	"net/http"

	telemetry "opgen.test/e2eshoptelemetry"
)

func main() {
	if err := telemetry.Setup(); err != nil {
		log.Fatal(err)
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	fmt.Printf("listening %d\n", listener.Addr().(*net.TCPAddr).Port)
	log.Fatal(http.Serve(listener, telemetry.Middleware(app)))
}
