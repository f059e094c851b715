package main

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emotionlab/emotion/dataset"
)

// serveMetrics are the counters GET /metrics exposes in Prometheus's text
// format (version 0.0.4), for a scraper to follow a server's load,
// latency and what it predicts.
type serveMetrics struct {
	mu        sync.Mutex
	requests  map[int]uint64 // POST /v1/predict answers by status code
	abandoned uint64         // requests whose client left before the answer
	latency   histogram      // seconds from a request's arrival to its answer (200 only)
	batch     histogram      // turns a batch predicted
	batchDur  histogram      // seconds a batch took on the model
	turns     uint64         // turns answered
	labels    [dataset.NumClasses]uint64
	failures  uint64 // batches whose prediction failed
}

// histogram is a Prometheus histogram: counts of observations at most
// each bound (cumulated when written), their sum and count.
type histogram struct {
	bounds []float64
	counts []uint64 // per bound, not cumulated; the last is above every bound
	sum    float64
	count  uint64
}

func newHistogram(bounds ...float64) histogram {
	return histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i, _ := slices.BinarySearch(h.bounds, v) // the first bound ≥ v: le is inclusive
	h.counts[i]++
	h.sum += v
	h.count++
}

// latencyBounds are the buckets of the request and batch durations, in
// seconds: 0.5 ms to 10 s.
var latencyBounds = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// batchBounds are the buckets of turns a batch, powers of two up to the
// largest batch.
func batchBounds(maxBatch int) []float64 {
	var b []float64
	for n := 1; n < maxBatch; n *= 2 {
		b = append(b, float64(n))
		if n > maxBatch/2 { // the next doubling passes maxBatch (or overflows)
			break
		}
	}
	return append(b, float64(maxBatch))
}

func newServeMetrics(maxBatch int) *serveMetrics {
	return &serveMetrics{
		requests: map[int]uint64{},
		latency:  newHistogram(latencyBounds...),
		batch:    newHistogram(batchBounds(maxBatch)...),
		batchDur: newHistogram(latencyBounds...),
	}
}

// request records a predict request's answer: its status (0: none, the
// client left), and for a 200 its latency and the labels it predicted.
func (m *serveMetrics) request(status int, took time.Duration, preds []predictOutput) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if status == 0 { // the client left before its answer
		m.abandoned++
		return
	}
	m.requests[status]++
	if status != http.StatusOK {
		return
	}
	m.latency.observe(took.Seconds())
	m.turns += uint64(len(preds))
	for _, p := range preds {
		if k := slices.Index(dataset.LabelNames[:], p.Label); k >= 0 {
			m.labels[k]++
		}
	}
}

// summary is the predict requests so far: answered 200, answered with
// an error status, and abandoned by their clients.
func (m *serveMetrics) summary() (ok, failed, abandoned uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for status, n := range m.requests {
		if status == http.StatusOK {
			ok += n
		} else {
			failed += n
		}
	}
	return ok, failed, m.abandoned
}

// batchRun records a batch of turns that took took; failed when its
// prediction failed.
func (m *serveMetrics) batchRun(turns int, took time.Duration, failed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.batch.observe(float64(turns))
	m.batchDur.observe(took.Seconds())
	if failed {
		m.failures++
	}
}

// write writes the metrics of s in Prometheus's text format.
func (m *serveMetrics) write(w io.Writer, s *server) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	family := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	family("emotion_model_info", "gauge", "The model served: kind, device and parameters (value 1).")
	fmt.Fprintf(&b, "emotion_model_info{model=%s,device=%s,parameters=\"%d\"} 1\n",
		quoteLabel(s.info.Model), quoteLabel(s.info.Device), s.info.Parameters)
	family("emotion_healthy", "gauge", "1 while every batch has been predicted, 0 once one failed on the device (as GET /healthz).")
	healthy := 1
	if s.failed.Load() != nil {
		healthy = 0
	}
	fmt.Fprintf(&b, "emotion_healthy %d\n", healthy)
	family("emotion_requests_total", "counter", "Answers to POST /v1/predict, by HTTP status code.")
	codes := make([]int, 0, len(m.requests))
	for c := range m.requests {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		fmt.Fprintf(&b, "emotion_requests_total{code=\"%d\"} %d\n", c, m.requests[c])
	}
	family("emotion_requests_abandoned_total", "counter", "Predict requests whose client left before their answer.")
	fmt.Fprintf(&b, "emotion_requests_abandoned_total %d\n", m.abandoned)
	family("emotion_request_duration_seconds", "histogram", "Time from a predict request's arrival to its answer, of the requests answered 200.")
	m.latency.write(&b, "emotion_request_duration_seconds")
	family("emotion_queue_requests", "gauge", "Requests (or parts of long ones) waiting for the model.")
	fmt.Fprintf(&b, "emotion_queue_requests %d\n", len(s.queue))
	family("emotion_queue_capacity", "gauge", "Requests that may wait before more are refused with 503.")
	fmt.Fprintf(&b, "emotion_queue_capacity %d\n", cap(s.queue))
	family("emotion_batches_total", "counter", "Batches predicted.")
	fmt.Fprintf(&b, "emotion_batches_total %d\n", m.batch.count)
	family("emotion_batch_failures_total", "counter", "Batches whose prediction failed.")
	fmt.Fprintf(&b, "emotion_batch_failures_total %d\n", m.failures)
	family("emotion_batch_turns", "histogram", "Turns a batch predicted (--max-batch at most; the earlier turns of a dialog's windows included).")
	m.batch.write(&b, "emotion_batch_turns")
	family("emotion_batch_duration_seconds", "histogram", "Time a batch took on the model.")
	m.batchDur.write(&b, "emotion_batch_duration_seconds")
	family("emotion_turns_total", "counter", "Turns answered.")
	fmt.Fprintf(&b, "emotion_turns_total %d\n", m.turns)
	family("emotion_predictions_total", "counter", "Turns answered, by predicted label.")
	for k, name := range dataset.LabelNames {
		fmt.Fprintf(&b, "emotion_predictions_total{label=%s} %d\n", quoteLabel(name), m.labels[k])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// write writes h's series: cumulative buckets, +Inf, sum and count.
func (h *histogram) write(b *strings.Builder, name string) {
	var cum uint64
	for i, bound := range h.bounds {
		cum += h.counts[i]
		fmt.Fprintf(b, "%s_bucket{le=\"%s\"} %d\n", name, formatFloat(bound), cum)
	}
	fmt.Fprintf(b, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %s\n%s_count %d\n", name, h.count, name, formatFloat(h.sum), name, h.count)
}

// formatFloat writes v as Prometheus reads it: the shortest decimal,
// +Inf, -Inf or NaN.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// quoteLabel quotes a label value with the escapes the text format
// allows: backslash, double quote and line feed.
func quoteLabel(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(v) + `"`
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (write deadlines).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
