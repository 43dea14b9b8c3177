// Play a service that uses its generated Go telemetry package, then print what Prometheus scrapes.
//
// The Go twin of tests/telemetry_driver.py, built by test_instrumentation.py in GOPATH mode next to
// bindings.go, which the test writes for the package under test (telemetry functions, or nil where
// the package has none), and run as:
//
//	driver PLAN_JSON
//
// with OPGEN_METRICS_PORT set. The plan is the one the Python driver reads: http_requests ([method,
// path], answered by the app below), slow_seconds, grpc, queue, stale_seconds, dependencies
// ([function, call_class]). Or one run of a cron job, which pushes to OPGEN_PUSHGATEWAY_URL and
// prints nothing: {"job_run": "success"} or {"job_run": "failure"}.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"
)

type plan struct {
	JobRun       string      `json:"job_run"`
	HTTPRequests [][2]string `json:"http_requests"`
	SlowSeconds  float64     `json:"slow_seconds"`
	GRPC         bool        `json:"grpc"`
	Queue        bool        `json:"queue"`
	StaleSeconds float64     `json:"stale_seconds"`
	Dependencies [][2]string `json:"dependencies"`
}

// call is what the package's *Call offers.
type call interface {
	End(err error)
	SetStatusCode(code int)
	SetStatus(name string)
}

// Unavailable is what a grpc-go status error looks like to the package: GRPCStatus().Code() is 14.
type Unavailable struct{}

func (Unavailable) Error() string { return "unavailable" }

// GRPCStatus returns the status, as grpc-go's *status.Status.
func (Unavailable) GRPCStatus() *fakeStatus { return &fakeStatus{code: 14} }

type fakeStatus struct{ code uint32 }

func (s *fakeStatus) Code() uint32 { return s.code }

// TimeoutError fails a message.
type TimeoutError struct{}

func (TimeoutError) Error() string { return "timed out" }

// ConnectionError fails a call to a dependency.
type ConnectionError struct{}

func (ConnectionError) Error() string { return "connection refused" }

// app answers as telemetry_driver.py's wsgi_app does.
func app(slowSeconds float64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/boom":
			panic("the handler failed before answering")
		case r.URL.Path == "/slow":
			time.Sleep(time.Duration(slowSeconds * float64(time.Second)))
		case strings.HasPrefix(r.URL.Path, "/orders/"):
			setRoute(r, "/orders/{id}")
		}
		status := map[string]int{"/fail": http.StatusServiceUnavailable, "/missing": http.StatusNotFound}[r.URL.Path]
		if status != 0 {
			w.WriteHeader(status)
		}
		_, _ = w.Write([]byte("ok"))
	})
}

func send(client *http.Client, base, method, path string) {
	request, err := http.NewRequest(method, base+path, nil)
	check(err)
	response, err := client.Do(request)
	if err != nil {
		return // /boom: the server dropped the connection
	}
	_, _ = io.Copy(io.Discard, response.Body)
	_ = response.Body.Close()
}

func runJob(outcome string) {
	if outcome == "success" {
		check(jobRun(func() error { return nil }))
		return
	}
	failed := errors.New("the report query timed out")
	if err := jobRun(func() error { return failed }); err != failed {
		log.Fatalf("JobRun returned %v, not the run's error", err)
	}
}

func main() {
	var p plan
	check(json.Unmarshal([]byte(os.Args[1]), &p))
	if p.JobRun != "" {
		runJob(p.JobRun)
		return
	}
	check(setup())
	check(setup()) // idempotent: a second call must not start a second server

	if len(p.HTTPRequests) > 0 {
		server := httptest.NewUnstartedServer(middleware(app(p.SlowSeconds)))
		server.Config.ErrorLog = log.New(io.Discard, "", 0) // the panic of /boom, reported by net/http
		server.Start()
		// A new connection per request: Go's client would send a GET again on a reused connection
		// the server dropped (/boom), and count it twice.
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
		for _, request := range p.HTTPRequests {
			send(client, server.URL, request[0], request[1])
		}
		server.Close()
	}

	if p.GRPC {
		grpcServerCall("shop.Inventory/Get").End(nil)
		grpcServerCall("shop.Inventory/Get").End(Unavailable{})
	}

	if p.Queue {
		now := time.Now()
		messageProcessing("kafka", "jobs", now).End(nil)
		messageProcessing("kafka", "jobs", now).End(TimeoutError{})
		messageProcessing("kafka", "jobs", now.Add(-time.Duration(p.StaleSeconds*float64(time.Second)))).End(nil)
		messageProcessing("kafka", "jobs", now.Add(time.Minute)).End(nil) // the producer's clock is ahead
		messageProcessing("kafka", "jobs", time.Time{}).End(nil)          // no enqueue time: no age
	}

	for _, dependency := range p.Dependencies {
		helper, kind := dependencies[dependency[0]], dependency[1]
		ok := helper()
		if kind == "HTTPCall" {
			ok.SetStatusCode(200)
		}
		ok.End(nil)
		if kind == "HTTPCall" {
			failed := helper()
			failed.SetStatusCode(503)
			failed.End(nil)
		}
		if kind == "GRPCCall" {
			helper().End(Unavailable{})
		} else {
			helper().End(ConnectionError{})
		}
	}

	response, err := http.Get(fmt.Sprintf("http://127.0.0.1:%s/metrics", os.Getenv("OPGEN_METRICS_PORT")))
	check(err)
	defer response.Body.Close()
	_, err = io.Copy(os.Stdout, response.Body)
	check(err)
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
