package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/host"
)

// trainTiny trains a tiny model of kind on the CSV fixture for a few epochs
// and returns its checkpoint.
func trainTiny(t *testing.T, kind string) string {
	t.Helper()
	data, _ := writeFixture(t)
	out := filepath.Join(t.TempDir(), "run")
	code, _, errOut := runEmotion(t, "train", "--data", data, "--model", kind, "--epochs", "3", "--patience", "0", "--lr", "0.02",
		"--embed", "8", "--hidden", "4", "--dense", "4", "--dialog-hidden", "4", "--heads", "2", "--attn-dim", "8", "--window", "3",
		"--out", out, "--quiet", "--device", "cpu", "--threads", "1")
	if code != 0 {
		t.Fatalf("train %s: exit %d: %s", kind, code, errOut)
	}
	return filepath.Join(out, "model.safetensors")
}

// startServer serves ckpt with its batches on a goroutine of their own, and
// stops them when the test ends.
func startServer(t *testing.T, ckpt string, maxBatch int, wait time.Duration) (*server, *httptest.Server) {
	t.Helper()
	return startServerWith(t, ckpt, maxBatch, wait, nil)
}

// startServerWith is startServer with setup run on the server before its
// batch goroutine starts (to replace its predict: set after the start, it
// would be safe only by the order of the test's own requests).
func startServerWith(t *testing.T, ckpt string, maxBatch int, wait time.Duration, setup func(*server)) (*server, *httptest.Server) {
	t.Helper()
	p, err := loadPredictor(ckpt, host.NewCPU(1))
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(p, ckpt, maxBatch, wait)
	if setup != nil {
		setup(s)
	}
	ts := httptest.NewServer(s.handler())
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		s.serveBatches(stop)
		close(done)
	}()
	t.Cleanup(func() {
		ts.Close()
		close(stop)
		<-done
		p.net.Release()
	})
	return s, ts
}

// post sends body to the server's predict endpoint and returns the status
// and the decoded answer (a serveResponse, or {"error": ...}).
func post(t *testing.T, url, body string) (int, serveResponse, string) {
	t.Helper()
	resp, err := http.Post(url+"/v1/predict", "application/json", strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, serveResponse{}, ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", body, ct)
	}
	var ok serveResponse
	var bad struct {
		Error string `json:"error"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &ok); err != nil {
			t.Errorf("answer %s: %v", b, err)
		}
	} else if err := json.Unmarshal(b, &bad); err != nil || bad.Error == "" {
		t.Errorf("status %d without an error message: %s", resp.StatusCode, b)
	}
	return resp.StatusCode, ok, bad.Error
}

// dialogRequests are requests of different sizes and speakers: a batch of
// them pads every window and utterance to the longest of all.
func serveRequests() []string {
	words := []string{"word3, and more words 1.", "word11", "word5, and more words 2 word7 word9 word1.", "hello there", "word16 and"}
	var reqs []string
	for i := range 24 {
		switch i % 3 {
		case 0:
			reqs = append(reqs, fmt.Sprintf(`{"text": %q, "speaker": %q}`, words[i%len(words)], "FM"[i%2:i%2+1]))
		case 1:
			reqs = append(reqs, fmt.Sprintf(`{"text": %q}`, words[(i+2)%len(words)]))
		default:
			var turns []string
			for k := range 1 + i%7 {
				spk := ""
				if k%3 != 2 {
					spk = fmt.Sprintf(`, "speaker": %q`, "MF"[(i+k)%2:(i+k)%2+1])
				}
				turns = append(turns, fmt.Sprintf(`{"text": %q%s}`, words[(i*k+1)%len(words)], spk))
			}
			reqs = append(reqs, fmt.Sprintf(`{"turns": [%s], "explain": EXPLAIN}`, strings.Join(turns, ", ")))
		}
	}
	return reqs
}

// TestServeBatchesMatchAlone: concurrent requests are batched together,
// and each gets what it gets alone (the predict command's answer).
func TestServeBatchesMatchAlone(t *testing.T) {
	for _, kind := range []string{"sentence", "dialog"} {
		t.Run(kind, func(t *testing.T) {
			ckpt := trainTiny(t, kind)
			explain := fmt.Sprint(kind == "dialog")
			var reqs []string
			for _, r := range serveRequests() {
				reqs = append(reqs, strings.ReplaceAll(r, "EXPLAIN", explain))
			}
			// Each alone, one server batch a request.
			_, alone := startServer(t, ckpt, 64, 0)
			want := make([]serveResponse, len(reqs))
			for i, r := range reqs {
				code, resp, msg := post(t, alone.URL, r)
				if code != http.StatusOK {
					t.Fatalf("request %s: status %d: %s", r, code, msg)
				}
				want[i] = resp
			}
			// The first one as the predict command gives it.
			code, out, errOut := runEmotion(t, "predict", "--checkpoint", ckpt, "--device", "cpu", "--json", "--speaker", "F", "word3, and more words 1.")
			if code != 0 {
				t.Fatalf("predict: exit %d: %s", code, errOut)
			}
			if got, _ := json.Marshal(want[0].Predictions[0]); strings.TrimSpace(out) != string(got) {
				t.Errorf("served %s, predict printed %s", got, out)
			}

			turns := 0
			for _, w := range want {
				turns += len(w.Predictions)
			}
			// All at once, held for 300 ms a batch so that they share
			// batches; then in batches of at most 8 turns, which most
			// requests overflow.
			for _, maxBatch := range []int{64, 8} {
				checkBatched(t, kind, ckpt, reqs, want, maxBatch, turns)
			}
		})
	}
}

// checkBatched sends reqs at once to a server of ckpt that batches up to
// maxBatch turns and checks that each gets its answer alone, want.
func checkBatched(t *testing.T, kind, ckpt string, reqs []string, want []serveResponse, maxBatch, turns int) {
	s, ts := startServer(t, ckpt, maxBatch, 300*time.Millisecond)
	got := make([]serveResponse, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() {
			code, resp, msg := post(t, ts.URL, r)
			if code != http.StatusOK {
				t.Errorf("request %s: status %d: %s", r, code, msg)
			}
			got[i] = resp
		})
	}
	wg.Wait()
	if b := s.batches.Load(); b >= int64(len(reqs)) || b < int64((turns+maxBatch-1)/maxBatch) {
		t.Errorf("%d requests of %d turns ran in %d batches of at most %d turns", len(reqs), turns, b, maxBatch)
	} else {
		t.Logf("%d requests of %d turns in %d batches of at most %d turns", len(reqs), turns, b, maxBatch)
	}
	worst := 0.0
	for i := range reqs {
		g, w := got[i].Predictions, want[i].Predictions
		if got[i].Model != kind || len(g) != len(w) {
			t.Fatalf("request %s: %s model, %d predictions; want %s, %d", reqs[i], got[i].Model, len(g), kind, len(w))
		}
		for k := range g {
			if g[k].Turn != k+1 || g[k].Text != w[k].Text || g[k].Label != w[k].Label || len(g[k].Context) != len(w[k].Context) {
				t.Errorf("request %s, turn %d: batched %+v, alone %+v", reqs[i], k+1, g[k], w[k])
				continue
			}
			for label, p := range w[k].Probs {
				worst = max(worst, math.Abs(g[k].Probs[label]-p))
			}
			for c := range g[k].Context {
				worst = max(worst, math.Abs(g[k].Context[c]-w[k].Context[c]))
			}
		}
		if strings.Contains(reqs[i], `"explain": true`) {
			for k, p := range g {
				if n := min(k+1, 3); len(p.Context) != n {
					t.Errorf("request %s, turn %d: %d attention weights for a window of %d", reqs[i], k+1, len(p.Context), n)
				}
			}
		}
	}
	// The answers are rounded to 4 decimals: one rounding step apart
	// at most.
	if worst > 1.5e-4 {
		t.Errorf("batched and alone differ by up to %g", worst)
	}
	t.Logf("batched and alone differ by up to %g", worst)
}

func TestServeRequests(t *testing.T) {
	sentence, dialog := trainTiny(t, "sentence"), trainTiny(t, "dialog")
	_, st := startServer(t, sentence, 4, 0)
	_, dt := startServer(t, dialog, 4, 0)
	tests := []struct {
		name   string
		url    string
		body   string
		status int
		msg    string // in the error, or the number of predictions
	}{
		{"one utterance", st.URL, `{"text": "word3 and", "speaker": "m"}`, 200, "1"},
		{"utterances", st.URL, `{"turns": [{"text": "a"}, {"text": "b", "speaker": "F"}]}`, 200, "2"},
		{"a dialog", dt.URL, `{"turns": [{"text": "a"}, {"text": "b"}, {"text": "c"}, {"text": "d"}]}`, 200, "4"},
		{"not JSON", st.URL, `hello`, 400, "invalid character"},
		{"unknown field", st.URL, `{"txt": "hello"}`, 400, `unknown field "txt"`},
		{"an array", st.URL, `[]`, 400, "request body: the value is an array: want a JSON object"},
		{"explain a string", st.URL, `{"text": "a", "explain": "yes"}`, 400, `field "explain" is a string, not true or false`},
		{"text a number", st.URL, `{"text": 5}`, 400, `field "text" is a number, not a string`},
		{"turns an object", dt.URL, `{"turns": {}}`, 400, `field "turns" is an object, not an array`},
		{"a turn's text a number", dt.URL, `{"turns": [{"text": 3}]}`, 400, `field "turns.text" is a number, not a string`},
		{"two values", st.URL, `{"text": "a"} {"text": "b"}`, 400, "more than one JSON value"},
		{"nothing", st.URL, `{}`, 400, `no "text" or "turns"`},
		{"empty body", st.URL, ``, 400, "EOF"},
		{"empty text", st.URL, `{"text": "  "}`, 400, "turn 1: empty text"},
		{"empty turn", dt.URL, `{"turns": [{"text": "a"}, {"text": ""}]}`, 400, "turn 2: empty text"},
		{"bad speaker", dt.URL, `{"turns": [{"text": "a", "speaker": "X"}]}`, 400, `turn 1: speaker "X"`},
		{"text and turns", st.URL, `{"text": "a", "turns": [{"text": "b"}]}`, 400, `or "turns" (one dialog), not both`},
		{"nested turns", dt.URL, `{"turns": [{"turns": [{"text": "b"}]}]}`, 400, `unknown field "turns"`},
		{"empty turns", dt.URL, `{"turns": []}`, 400, `"turns" is empty`},
		{"Latin-1 text", st.URL, "{\"text\": \"caf\xe9\"}", 400, "not UTF-8 text: byte 14 is 0xe9"},
		{"half a surrogate pair", st.URL, `{"text": "\ud83d!"}`, 400, `not UTF-8 text: byte 11 begins \ud83d`},
		{"more turns than a batch", dt.URL, `{"turns": [{"text": "a"}, {"text": "b"}, {"text": "c"}, {"text": "d"}, {"text": "e"}]}`, 200, "5"},
		{"too large", st.URL, `{"text": "` + strings.Repeat("a", serveMaxBody) + `"}`, 413, "over 1048576 bytes"},
		{"too large after the value", st.URL, `{"text": "a"}` + strings.Repeat(" ", serveMaxBody), 413, "over 1048576 bytes"},
		{"explain, sentence model", st.URL, `{"text": "a", "explain": true}`, 400, "this is a sentence model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, resp, msg := post(t, tt.url, tt.body)
			if code != tt.status {
				t.Fatalf("status %d (%s), want %d", code, msg, tt.status)
			}
			if code == 200 {
				if fmt.Sprint(len(resp.Predictions)) != tt.msg {
					t.Errorf("%d predictions, want %s", len(resp.Predictions), tt.msg)
				}
				for _, p := range resp.Predictions {
					if p.Context != nil {
						t.Errorf("attention weights without explain: %+v", p)
					}
				}
			} else if !strings.Contains(msg, tt.msg) {
				t.Errorf("error %q, want it to contain %q", msg, tt.msg)
			}
		})
	}

	get := func(url string) (int, string, http.Header) {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	if code, body, h := get(st.URL + "/v1/predict"); code != 405 || h.Get("Allow") != "POST" || !strings.Contains(body, "use POST") {
		t.Errorf("GET /v1/predict: %d %s (Allow %q)", code, body, h.Get("Allow"))
	}
	// Allow names every method the endpoint answers: HEAD with GET.
	for _, path := range []string{"/healthz", "/v1/model"} {
		req, _ := http.NewRequest(http.MethodDelete, st.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("DELETE %s: %d, Allow %q; want 405, \"GET, HEAD\"", path, resp.StatusCode, resp.Header.Get("Allow"))
		}
		if resp, err := http.Head(st.URL + path); err != nil || resp.StatusCode != 200 {
			t.Errorf("HEAD %s: %v %v", path, resp, err)
		}
	}
	if code, body, _ := get(st.URL + "/nowhere"); code != 404 || !strings.Contains(body, "POST /v1/predict") {
		t.Errorf("GET /nowhere: %d %s", code, body)
	}
	if code, body, _ := get(st.URL + "/healthz"); code != 200 || strings.TrimSpace(body) != `{"status":"ok"}` {
		t.Errorf("GET /healthz: %d %s", code, body)
	}
	code, body, _ := get(dt.URL + "/v1/model")
	var info modelInfo
	if err := json.Unmarshal([]byte(body), &info); err != nil || code != 200 {
		t.Fatalf("GET /v1/model: %d %s (%v)", code, body, err)
	}
	if info.Model != "dialog" || info.Window != 3 || info.Checkpoint != dialog || info.MaxBatch != 4 || info.Parameters == 0 ||
		info.Vocabulary == 0 || info.Device == "" || strings.Join(info.Labels, " ") != "angry happy neutral sad" {
		t.Errorf("GET /v1/model: %+v", info)
	}
}

// TestServeFullQueue: a request that finds the queue full is refused at
// once, with a retry hint, rather than queued without bound.
func TestServeFullQueue(t *testing.T) {
	p, err := loadPredictor(trainTiny(t, "sentence"), host.NewCPU(1))
	if err != nil {
		t.Fatal(err)
	}
	defer p.net.Release()
	s := newServer(p, "model", 8, 0) // no batches run: the queue stays full
	for range serveQueue {
		s.queue <- &serveJob{}
	}
	ts := httptest.NewServer(s.handler())
	defer ts.Close()
	resp, err := http.Post(ts.URL+"/v1/predict", "application/json", strings.NewReader(`{"text": "hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("full queue: status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestServeDeviceFailure: a batch that fails answers every request in it
// with 500, and /healthz says so from then on, with the first failure.
func TestServeDeviceFailure(t *testing.T) {
	var failures atomic.Int64
	_, ts := startServerWith(t, trainTiny(t, "sentence"), 8, 0, func(s *server) {
		s.predict = func([][]dataset.RawTurn, bool) ([][]predictOutput, error) {
			return nil, fmt.Errorf("CUDA_ERROR_ILLEGAL_ADDRESS in lstm_seq_fwd (failure %d)", failures.Add(1))
		}
	})
	var logged syncBuffer
	oldErr := stderr
	stderr = &logged
	defer func() { stderr = oldErr }()
	for range 2 {
		if code, _, msg := post(t, ts.URL, `{"text": "hi"}`); code != 500 || !strings.Contains(msg, "prediction failed: CUDA_ERROR_ILLEGAL_ADDRESS") {
			t.Errorf("failed batch: status %d, error %q", code, msg)
		}
	}
	resp, err := http.Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), "CUDA_ERROR_ILLEGAL_ADDRESS in lstm_seq_fwd (failure 1)") {
		t.Errorf("/healthz after two failures: %d %s; want the first failure", resp.StatusCode, b)
	}
	if !strings.Contains(logged.String(), "emotion serve: prediction failed: CUDA_ERROR_ILLEGAL_ADDRESS") {
		t.Errorf("the failure was not logged: %q", logged.String())
	}
}

// TestServeClientNotReading: a client that never reads its answer does not
// hold its handler (and with it a graceful stop) forever. The answer, of
// 8 MiB, is more than the socket buffers hold.
func TestServeClientNotReading(t *testing.T) {
	old := serveWriteTimeout
	serveWriteTimeout = 200 * time.Millisecond
	defer func() { serveWriteTimeout = old }()
	s, _ := startServerWith(t, trainTiny(t, "sentence"), 8, 0, func(s *server) {
		s.predict = func(groups [][]dataset.RawTurn, _ bool) ([][]predictOutput, error) {
			return [][]predictOutput{{{Turn: 1, Text: strings.Repeat("a", 8<<20), Label: "sad"}}}, nil
		}
	})
	var inFlight atomic.Int64
	h := s.handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		h.ServeHTTP(w, r)
	}))
	defer ts.Close()
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(1024)
	body := `{"text": "hi"}`
	if _, err := fmt.Fprintf(c, "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for s.answered.Load() == 0 || inFlight.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the handler still writes to a client that does not read (%d answered)", s.answered.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeSkipsLeftJobs: a request whose client has left takes no room in
// a batch, so the requests behind it are not pushed to a later one.
func TestServeSkipsLeftJobs(t *testing.T) {
	p, err := loadPredictor(trainTiny(t, "sentence"), host.NewCPU(1))
	if err != nil {
		t.Fatal(err)
	}
	defer p.net.Release()
	s := newServer(p, "model", 8, 0)
	turns := []dataset.RawTurn{{Text: "a"}, {Text: "b"}, {Text: "c"}, {Text: "d"}}
	left, cancel := context.WithCancel(context.Background())
	cancel()
	var live []*serveJob
	for i, ctx := range []context.Context{left, context.Background(), left, left, context.Background()} {
		j := &serveJob{ctx: ctx, turns: turns, done: make(chan serveResult, 1)}
		s.queue <- j
		if i == 1 || i == 4 {
			live = append(live, j)
		}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		s.serveBatches(stop)
		close(done)
	}()
	for _, j := range live {
		if res := <-j.done; res.err != nil || len(res.preds) != len(turns) {
			t.Errorf("live request: %d predictions, %v", len(res.preds), res.err)
		}
	}
	close(stop)
	<-done
	if b := s.batches.Load(); b != 1 {
		t.Errorf("2 live requests of 4 turns, behind and between 3 that left, ran in %d batches of 8 turns; want 1", b)
	}
}

// TestServeEncodesInHandlers: a request's texts are tokenised by its own
// handler, so that the goroutine of the model never tokenises (a 1 MiB
// text would hold every request for as long as that takes), and a long
// text gets what predict gives it.
func TestServeEncodesInHandlers(t *testing.T) {
	ckpt := trainTiny(t, "dialog")
	_, ts := startServerWith(t, ckpt, 8, 0, func(s *server) {
		predict := s.predict
		s.predict = func(groups [][]dataset.RawTurn, explain bool) ([][]predictOutput, error) {
			for _, g := range groups {
				for _, turn := range g {
					if turn.IDs == nil || len(turn.IDs) > max(s.members[0].opts.MaxLen, 1) {
						t.Errorf("the batch got a turn of %d bytes with %d token ids (nil: %v)", len(turn.Text), len(turn.IDs), turn.IDs == nil)
					}
				}
			}
			return predict(groups, explain)
		}
	})
	long := strings.Repeat("word3 and, word11 more. ", 5000)
	in := map[string]any{"turns": []map[string]string{{"text": "hello there", "speaker": "F"}, {"text": long, "speaker": "M"}}}
	line, _ := json.Marshal(in) // predict's standard input
	in["explain"] = true
	body, _ := json.Marshal(in)
	code, resp, msg := post(t, ts.URL, string(body))
	if code != 200 || len(resp.Predictions) != 2 {
		t.Fatalf("status %d (%s), %d predictions", code, msg, len(resp.Predictions))
	}
	oldIn := stdin
	stdin = bytes.NewReader(line)
	defer func() { stdin = oldIn }()
	code, out, errOut := runEmotion(t, "predict", "--checkpoint", ckpt, "--device", "cpu", "--json", "--explain")
	if code != 0 {
		t.Fatalf("predict: exit %d: %s", code, errOut)
	}
	var served []string
	for _, p := range resp.Predictions {
		p.Line = 1 // predict's standard-input line, which a request has not
		b, _ := json.Marshal(p)
		served = append(served, string(b))
	}
	if got, want := strings.Join(served, "\n"), strings.TrimSpace(out); got != want {
		t.Errorf("served\n%.300s\npredict printed\n%.300s", got, want)
	}
}

// syncBuffer is a bytes.Buffer safe for a command writing while a test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestServeCommand runs the command: it listens, answers, and on a signal
// answers the request it has accepted before it stops.
func TestServeCommand(t *testing.T) {
	ckpt := trainTiny(t, "dialog")
	ctx, cancel := context.WithCancel(context.Background())
	oldCtx, oldOut, oldErr := commandContext, stdout, stderr
	var errOut syncBuffer
	listening := make(chan string, 1)
	var srv *server
	commandContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	stdout, stderr = io.Discard, &errOut
	serveListening = func(s *server, a net.Addr) {
		srv = s
		listening <- "http://" + a.String()
	}
	defer func() {
		commandContext, stdout, stderr, serveListening = oldCtx, oldOut, oldErr, nil
		cancel()
	}()
	exit := make(chan int, 1)
	go func() {
		exit <- emotion([]string{"serve", "--checkpoint", ckpt, "--addr", "127.0.0.1:0", "--device", "cpu", "--threads", "1", "--batch-wait", "500ms"})
	}()
	var url string
	select {
	case url = <-listening:
	case code := <-exit:
		t.Fatalf("serve exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "serving the dialog model of "+ckpt+" on cpu (1 thread) at "+url) {
		t.Errorf("start-up line: %q", errOut.String())
	}
	// A request held in its batch's 500 ms when the signal comes is answered.
	answered := make(chan int, 1)
	go func() {
		code, _, msg := post(t, url, `{"turns": [{"text": "a", "speaker": "F"}, {"text": "b", "speaker": "M"}]}`)
		if code != 200 {
			t.Errorf("request: status %d: %s", code, msg)
		}
		answered <- code
	}()
	for srv.accepted.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if code := <-answered; code != 200 {
		t.Errorf("the request accepted before the signal: status %d", code)
	}
	if code := <-exit; code != 0 {
		t.Errorf("serve exited %d after the signal: %s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "stopped after 1 predict request: 1 answered, 0 refused or failed, 0 left by their clients") {
		t.Errorf("stderr: %q", errOut.String())
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("still listening after it stopped")
	}
}

// TestServeCommandStopGrace: a stop that cannot answer every accepted
// request within its grace exits 1 and says so.
func TestServeCommandStopGrace(t *testing.T) {
	ckpt := trainTiny(t, "sentence")
	ctx, cancel := context.WithCancel(context.Background())
	oldCtx, oldOut, oldErr, oldGrace := commandContext, stdout, stderr, serveStopGrace
	var errOut syncBuffer
	listening := make(chan string, 1)
	var srv *server
	commandContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	stdout, stderr, serveStopGrace = io.Discard, &errOut, 100*time.Millisecond
	serveListening = func(s *server, a net.Addr) {
		srv = s
		predict := s.predict
		s.predict = func(groups [][]dataset.RawTurn, explain bool) ([][]predictOutput, error) {
			time.Sleep(time.Second) // longer than the grace
			return predict(groups, explain)
		}
		listening <- "http://" + a.String()
	}
	defer func() {
		commandContext, stdout, stderr, serveListening, serveStopGrace = oldCtx, oldOut, oldErr, nil, oldGrace
		cancel()
	}()
	exit := make(chan int, 1)
	go func() {
		exit <- emotion([]string{"serve", "--checkpoint", ckpt, "--addr", "127.0.0.1:0", "--device", "cpu", "--threads", "1"})
	}()
	var url string
	select {
	case url = <-listening:
	case code := <-exit:
		t.Fatalf("serve exited %d: %s", code, errOut.String())
	}
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		if resp, err := http.Post(url+"/v1/predict", "application/json", strings.NewReader(`{"text": "hi"}`)); err == nil {
			resp.Body.Close()
		}
	}()
	for srv.accepted.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if code := <-exit; code != 1 || !strings.Contains(errOut.String(), "still answering accepted requests after 100ms") {
		t.Errorf("serve exited %d: %q", code, errOut.String())
	}
	<-answered
}

func TestServeCommandLine(t *testing.T) {
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"serve"}, 2, "--checkpoint is required"},
		{[]string{"serve", "--checkpoint", "x", "--max-batch", "0"}, 2, "--max-batch must be positive"},
		{[]string{"serve", "--checkpoint", "x", "--batch-wait", "-1s"}, 2, "--batch-wait must not be negative"},
		{[]string{"serve", "--checkpoint", "x", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"serve", "--checkpoint", filepath.Join(t.TempDir(), "none.safetensors"), "--device", "cpu"}, 1, "none.safetensors"},
	}
	for _, tt := range tests {
		code, _, errOut := runEmotion(t, tt.args...)
		if code != tt.code || !strings.Contains(errOut, tt.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, errOut, tt.code, tt.msg)
		}
	}
	ckpt := trainTiny(t, "sentence")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if code, _, errOut := runEmotion(t, "serve", "--checkpoint", ckpt, "--device", "cpu", "--addr", ln.Addr().String()); code != 1 || !strings.Contains(errOut, "--addr "+ln.Addr().String()) {
		t.Errorf("an address in use: exit %d, stderr %q", code, errOut)
	}
	code, out, _ := runEmotion(t, "serve", "--help")
	for _, want := range []string{"POST /v1/predict", "GET  /healthz", "--max-batch", "--batch-wait", "curl -s localhost:8080/v1/predict"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("serve --help (exit %d) lacks %q", code, want)
		}
	}
}

// TestServeLongRequest: a dialog of more turns than a batch is predicted in
// parts, each with the earlier turns its windows need, and answered as
// predict answers the whole dialog at once.
func TestServeLongRequest(t *testing.T) {
	ckpt := trainTiny(t, "dialog") // window 3
	s, ts := startServer(t, ckpt, 4, 0)
	var texts, turns []string
	for i := range 11 {
		texts = append(texts, fmt.Sprintf("word%d, and more words %d.", i*5%17, i%3))
		turns = append(turns, fmt.Sprintf(`{"text": %q, "speaker": "F"}`, texts[i]))
	}
	code, resp, msg := post(t, ts.URL, `{"turns": [`+strings.Join(turns, ", ")+`], "explain": true}`)
	if code != 200 {
		t.Fatalf("status %d: %s", code, msg)
	}
	// Parts [0, 4), then 4–5, 6–7, 8–9 and 10, each after the 2 turns
	// before it: 5 batches of at most 4 turns.
	if got := s.batches.Load(); got != 5 {
		t.Errorf("%d batches, want 5", got)
	}
	code, out, errOut := runEmotion(t, append([]string{"predict", "--checkpoint", ckpt, "--device", "cpu", "--json", "--explain", "--speaker", "F"}, texts...)...)
	if code != 0 {
		t.Fatalf("predict: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 11 || len(resp.Predictions) != 11 {
		t.Fatalf("%d predictions served, %d printed, want 11", len(resp.Predictions), len(lines))
	}
	for i, l := range lines {
		var want predictOutput
		if err := json.Unmarshal([]byte(l), &want); err != nil {
			t.Fatal(err)
		}
		got := resp.Predictions[i]
		if got.Turn != want.Turn || got.Text != want.Text || got.Label != want.Label || len(got.Context) != len(want.Context) {
			t.Fatalf("turn %d: served %+v, predict %+v", i+1, got, want)
		}
		for label, p := range want.Probs {
			if math.Abs(got.Probs[label]-p) > 1.5e-4 {
				t.Errorf("turn %d: %s %g served, %g printed", i+1, label, got.Probs[label], p)
			}
		}
		for c := range got.Context {
			if math.Abs(got.Context[c]-want.Context[c]) > 1.5e-4 {
				t.Errorf("turn %d: attention %v served, %v printed", i+1, got.Context, want.Context)
			}
		}
	}
}

// TestServeBatchTakesAWindow: with a dialog model a batch holds at least
// one window of turns, the fewest that predict one turn, and /v1/model
// says so.
func TestServeBatchTakesAWindow(t *testing.T) {
	ckpt := trainTiny(t, "dialog") // window 3
	s, ts := startServer(t, ckpt, 1, 0)
	if s.maxBatch != 3 || s.info.MaxBatch != 3 {
		t.Errorf("--max-batch 1 with a window of 3: batches of %d, /v1/model says %d; want 3", s.maxBatch, s.info.MaxBatch)
	}
	code, resp, msg := post(t, ts.URL, `{"turns": [{"text": "a b", "speaker": "F"}, {"text": "c", "speaker": "M"}, {"text": "d", "speaker": "F"}, {"text": "e f", "speaker": "M"}]}`)
	if code != 200 || len(resp.Predictions) != 4 {
		t.Fatalf("status %d, %d predictions: %s", code, len(resp.Predictions), msg)
	}
	for _, p := range s.pieces(4) {
		if p.end-p.lo > s.maxBatch {
			t.Errorf("part %+v holds more than %d turns", p, s.maxBatch)
		}
	}
	// Batches of max(--max-batch, window) turns: raised below the window,
	// kept from it on.
	for _, tc := range []struct{ maxBatch, want int }{{2, 3}, {3, 3}, {4, 4}} {
		if got := newServer(s.members[0], ckpt, tc.maxBatch, 0); got.maxBatch != tc.want || got.info.MaxBatch != tc.want {
			t.Errorf("--max-batch %d with a window of 3: batches of %d, /v1/model says %d; want %d", tc.maxBatch, got.maxBatch, got.info.MaxBatch, tc.want)
		}
	}
}

// TestServeFullBatchRunsAtOnce: a batch that holds --max-batch turns runs
// at once: --batch-wait holds open only a batch with room for more.
func TestServeFullBatchRunsAtOnce(t *testing.T) {
	p, err := loadPredictor(trainTiny(t, "sentence"), host.NewCPU(1))
	if err != nil {
		t.Fatal(err)
	}
	defer p.net.Release()
	s := newServer(p, "model", 2, 20*time.Second)
	j := &serveJob{ctx: context.Background(), turns: []dataset.RawTurn{{Text: "a"}, {Text: "b"}}, done: make(chan serveResult, 1)}
	s.queue <- j
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		s.serveBatches(stop)
		close(done)
	}()
	select {
	case res := <-j.done:
		if res.err != nil || len(res.preds) != 2 {
			t.Errorf("%d predictions, %v", len(res.preds), res.err)
		}
	case <-time.After(5 * time.Second):
		t.Error("a full batch of 2 turns waited for --batch-wait 20s")
	}
	close(stop)
	<-done
}

func TestServePieces(t *testing.T) {
	for _, tc := range []struct {
		kind          string
		window, batch int
		n             int
		want          string
	}{
		{"sentence", 0, 4, 10, "[{0 0 4} {4 4 8} {8 8 10}]"},
		{"dialog", 3, 4, 11, "[{0 0 4} {2 4 6} {4 6 8} {6 8 10} {8 10 11}]"},
		{"dialog", 3, 4, 4, "[{0 0 4}]"},
		{"dialog", 10, 4, 6, "[{0 0 4} {0 4 5} {0 5 6}]"}, // a batch smaller than the window: a turn a part
		{"dialog", 1, 1, 2, "[{0 0 1} {1 1 2}]"},
	} {
		s := &server{maxBatch: tc.batch, info: modelInfo{Model: tc.kind, Window: tc.window}}
		if got := fmt.Sprint(s.pieces(tc.n)); got != tc.want {
			t.Errorf("%s, window %d, batch %d, %d turns: %s, want %s", tc.kind, tc.window, tc.batch, tc.n, got, tc.want)
		}
	}
}
