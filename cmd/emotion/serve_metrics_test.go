package main

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emotionlab/emotion/dataset"
)

// scrape gets url's /metrics and parses it strictly as Prometheus's text
// format: every line a # HELP or # TYPE of a metric name, or a sample of a
// family whose TYPE came before, with a float value; no series twice. It
// returns the samples by their series (name and labels as written).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("/metrics: status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	name := `[a-zA-Z_:][a-zA-Z0-9_:]*`
	meta := regexp.MustCompile(`^# (HELP|TYPE) (` + name + `) (.+)$`)
	sample := regexp.MustCompile(`^(` + name + `)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? (\S+)$`)
	types := map[string]string{}
	out := map[string]float64{}
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if m := meta.FindStringSubmatch(line); m != nil {
			if m[1] == "TYPE" {
				if !regexp.MustCompile(`^(counter|gauge|histogram)$`).MatchString(m[3]) {
					t.Errorf("line %d: type %q", i+1, m[3])
				}
				types[m[2]] = m[3]
			}
			continue
		}
		m := sample.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line %d is neither a comment nor a sample: %q", i+1, line)
			continue
		}
		family := m[1]
		if types[family] == "" {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if f, ok := strings.CutSuffix(m[1], suffix); ok && types[f] == "histogram" {
					family = f
				}
			}
		}
		if types[family] == "" {
			t.Errorf("line %d: %s has no TYPE before it", i+1, m[1])
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Errorf("line %d: value %q", i+1, m[3])
		}
		series := m[1] + m[2]
		if _, dup := out[series]; dup {
			t.Errorf("line %d: %s twice", i+1, series)
		}
		out[series] = v
	}
	return out
}

// checkHistogram checks that the buckets of histogram name are cumulative,
// its +Inf bucket is its count, and returns the count and sum.
func checkHistogram(t *testing.T, m map[string]float64, name string, bounds []float64) (count, sum float64) {
	t.Helper()
	prev := 0.0
	for _, b := range bounds {
		v, ok := m[fmt.Sprintf("%s_bucket{le=%q}", name, strconv.FormatFloat(b, 'g', -1, 64))]
		if !ok || v < prev {
			t.Errorf("%s: bucket le=%g is %g (present %v) after %g", name, b, v, ok, prev)
		}
		prev = v
	}
	count, sum = m[name+"_count"], m[name+"_sum"]
	if inf := m[name+`_bucket{le="+Inf"}`]; inf != count || inf < prev {
		t.Errorf("%s: +Inf bucket %g, count %g, last bucket %g", name, inf, count, prev)
	}
	return count, sum
}

// TestServeMetrics drives a server with answered, refused and failed
// requests, and checks what GET /metrics says against what the test saw:
// requests by status, the latency histogram of the answered ones, the
// turns and the labels answered, batches (as the server counted them,
// their turns at least those answered), the queue and health.
func TestServeMetrics(t *testing.T) {
	const maxBatch = 4
	s, ts := startServer(t, trainTiny(t, "sentence"), maxBatch, 0)
	reqs := []string{
		`{"text": "I am so happy for you!", "speaker": "F"}`,
		`{"turns": [{"text": "Where were you?"}, {"text": "Out."}, {"text": "Why?"}]}`,
		`{"turns": [{"text": "a"}, {"text": "b"}, {"text": "c"}, {"text": "d"}, {"text": "e"}, {"text": "f"}]}`, // two batches
	}
	labels := map[string]float64{}
	turns := 0.0
	for _, r := range reqs {
		code, resp, msg := post(t, ts.URL, r)
		if code != 200 {
			t.Fatalf("%s: %d %s", r, code, msg)
		}
		for _, p := range resp.Predictions {
			labels[p.Label]++
			turns++
		}
	}
	if code, _, _ := post(t, ts.URL, `{"txt": "typo"}`); code != 400 {
		t.Fatalf("a bad request: %d", code)
	}
	if resp, err := http.Get(ts.URL + "/v1/predict"); err != nil || resp.StatusCode != 405 {
		t.Fatalf("GET /v1/predict: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	m := scrape(t, ts.URL)
	for series, want := range map[string]float64{
		`emotion_requests_total{code="200"}`: 3,
		`emotion_requests_total{code="400"}`: 1,
		`emotion_requests_total{code="405"}`: 1,
		`emotion_requests_abandoned_total`:   0,
		`emotion_turns_total`:                turns,
		`emotion_batches_total`:              float64(s.batches.Load()),
		`emotion_batch_failures_total`:       0,
		`emotion_healthy`:                    1,
		`emotion_queue_requests`:             0,
		`emotion_queue_capacity`:             serveQueue,
		`emotion_model_info{model="sentence",device="` + s.info.Device + `",parameters="` + strconv.Itoa(s.info.Parameters) + `"}`: 1,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %g (present %v), want %g", series, got, ok, want)
		}
	}
	for _, l := range dataset.LabelNames {
		if got := m[`emotion_predictions_total{label="`+l+`"}`]; got != labels[l] {
			t.Errorf("predictions of %s: %g, the answers had %g", l, got, labels[l])
		}
	}
	if n, sum := checkHistogram(t, m, "emotion_request_duration_seconds", latencyBounds); n != 3 || !(sum > 0) {
		t.Errorf("request durations: count %g, sum %g; want 3 and a positive time", n, sum)
	}
	if s.batches.Load() < 4 { // the 6-turn request is two batches of at most 4
		t.Errorf("%d batches, want at least 4", s.batches.Load())
	}
	if n, sum := checkHistogram(t, m, "emotion_batch_turns", []float64{1, 2, 4}); n != float64(s.batches.Load()) || sum < turns || sum > n*maxBatch {
		t.Errorf("batch turns: count %g, sum %g; want %d batches of %g turns or more, at most %d each", n, sum, s.batches.Load(), turns, maxBatch)
	}
	if n, _ := checkHistogram(t, m, "emotion_batch_duration_seconds", latencyBounds); n != float64(s.batches.Load()) {
		t.Errorf("batch durations: count %g, want %d", n, s.batches.Load())
	}

	// A batch that fails on the device: a 500, a failure, unhealthy.
	oldErr := stderr
	stderr = io.Discard
	defer func() { stderr = oldErr }()
	s.predict = func([][]dataset.RawTurn, bool) ([][]predictOutput, error) {
		return nil, fmt.Errorf("CUDA_ERROR_ILLEGAL_ADDRESS")
	}
	if code, _, _ := post(t, ts.URL, `{"text": "hi"}`); code != 500 {
		t.Fatalf("a failed batch: %d", code)
	}
	m = scrape(t, ts.URL)
	for series, want := range map[string]float64{
		`emotion_requests_total{code="500"}`: 1,
		`emotion_requests_total{code="200"}`: 3,
		`emotion_batch_failures_total`:       1,
		`emotion_healthy`:                    0,
		`emotion_turns_total`:                turns,
	} {
		if got := m[series]; got != want {
			t.Errorf("after a failed batch: %s = %g, want %g", series, got, want)
		}
	}
	if n, _ := checkHistogram(t, m, "emotion_request_duration_seconds", latencyBounds); n != 3 {
		t.Errorf("a failed request entered the latency histogram: count %g", n)
	}
}

// TestServeMetricsFormat: label values are escaped as the text format
// requires, and histogram bounds are written as Prometheus reads them.
func TestServeMetricsFormat(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"cpu", `"cpu"`},
		{`NVIDIA "H200"`, `"NVIDIA \"H200\""`},
		{`a\b`, `"a\\b"`},
		{"two\nlines", `"two\nlines"`},
	} {
		if got := quoteLabel(tc.in); got != tc.want {
			t.Errorf("quoteLabel(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		v    float64
		want string
	}{{0.0005, "0.0005"}, {10, "10"}, {math.Inf(1), "+Inf"}, {math.Inf(-1), "-Inf"}, {math.NaN(), "NaN"}, {1e21, "1e+21"}} {
		if got := formatFloat(tc.v); got != tc.want {
			t.Errorf("formatFloat(%g) = %s, want %s", tc.v, got, tc.want)
		}
	}
	// The batch buckets are every power of two below --max-batch, then
	// --max-batch itself. A power of two that is exactly half of it (4 of
	// 9, 2 of 5) is followed by its double when that is still below.
	for _, tc := range []struct {
		maxBatch int
		want     []float64
	}{
		{1, []float64{1}},
		{2, []float64{1, 2}},
		{3, []float64{1, 2, 3}},
		{4, []float64{1, 2, 4}},
		{5, []float64{1, 2, 4, 5}},
		{8, []float64{1, 2, 4, 8}},
		{9, []float64{1, 2, 4, 8, 9}},
		{10, []float64{1, 2, 4, 8, 10}},
		{17, []float64{1, 2, 4, 8, 16, 17}},
		{64, []float64{1, 2, 4, 8, 16, 32, 64}},
	} {
		if got := batchBounds(tc.maxBatch); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("batchBounds(%d) = %v, want %v", tc.maxBatch, got, tc.want)
		}
	}
	// Doubling past a --max-batch near the largest int overflowed and
	// never ended.
	if got := batchBounds(math.MaxInt); len(got) != 64 || got[62] != 1<<62 {
		t.Errorf("batchBounds(MaxInt) = %d bounds, the last but one %g", len(got), got[len(got)-2])
	}
	h := newHistogram(1, 2)
	for _, v := range []float64{0.5, 1, 1.5, 3} {
		h.observe(v)
	}
	var b strings.Builder
	h.write(&b, "x")
	want := "x_bucket{le=\"1\"} 2\nx_bucket{le=\"2\"} 3\nx_bucket{le=\"+Inf\"} 4\nx_sum 6\nx_count 4\n"
	if b.String() != want {
		t.Errorf("histogram written as\n%s\nwant (le inclusive, cumulative)\n%s", b.String(), want)
	}
}

// TestServeMetricsSummary: the shutdown line's counts come from summary,
// which splits the predict requests recorded into those answered 200, those
// answered with any other status (a client's 4xx as much as the server's
// 503 or 500: none of them was answered with predictions), and those whose
// client left (status 0), which are neither.
func TestServeMetricsSummary(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		statuses              []int
		ok, failed, abandoned uint64
	}{
		{"none", nil, 0, 0, 0},
		{"answered", []int{200, 200}, 2, 0, 0},
		{"bad request", []int{400}, 0, 1, 0},
		{"every kind", []int{200, 400, 503, 0}, 1, 2, 1},
		{"client errors", []int{200, 400, 405, 413, 415, 0, 0}, 1, 4, 2},
		{"server errors", []int{500, 503, 200}, 1, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newServeMetrics(4)
			for _, status := range tc.statuses {
				var preds []predictOutput
				if status == 200 {
					preds = []predictOutput{{Label: dataset.LabelNames[0]}}
				}
				m.request(status, time.Millisecond, preds)
			}
			ok, failed, abandoned := m.summary()
			if ok != tc.ok || failed != tc.failed || abandoned != tc.abandoned {
				t.Errorf("statuses %v: summary() = %d answered, %d refused or failed, %d left; want %d, %d, %d",
					tc.statuses, ok, failed, abandoned, tc.ok, tc.failed, tc.abandoned)
			}
		})
	}
}
