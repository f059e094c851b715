package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/emotionlab/emotion/dataset"
	"github.com/emotionlab/emotion/model"
)

func init() {
	register(&command{
		name:    "serve",
		summary: "Serve a checkpoint's predictions over HTTP",
		usage:   "--checkpoint FILE [flags]",
		help: `Answers prediction requests over HTTP with one model, loaded once.

Endpoints:
  POST /v1/predict  one JSON object, the forms of predict's standard input:
                      {"text": "I can't believe it!", "speaker": "F"}
                      {"turns": [{"text": "...", "speaker": "M"}, {"text": "..."}]}
                    "turns" are independent utterances for the sentence model
                    and the turns of one dialog, in order, for the dialog
                    model; "explain": true (dialog model) adds each turn's
                    attention pooling weights over its window. Answers
                    {"model": "dialog", "predictions": [{"turn": 1, "text": "...",
                    "label": "neutral", "probs": {...}, "attention": [...]}]}
                    or, for a bad request, a 4xx status and {"error": "..."}.
  GET  /v1/model    the model: kind, labels, window, vocabulary, parameters
  GET  /healthz     200, or 503 and the error once a batch has failed on the
                    device
  GET  /metrics     Prometheus metrics: requests by status, their latency,
                    the queue, batches (turns, time, failures) and the
                    labels predicted

Requests that arrive while the model is busy are predicted together in one
batch of up to --max-batch turns (dynamic batching); a request of more turns
than that is predicted in parts of that size, in turn with the others
(each part of a dialog with the earlier turns its windows need), so that
no request costs more memory than a full batch. With a dialog model a
batch takes at least one window of turns. --batch-wait holds a batch open that long for more
requests: more throughput under load for that much latency. A request gets
the same predictions, up to float rounding, whatever it is batched with.

Several --checkpoint flags serve their ensemble, as predict does: the mean
of the checkpoints' probabilities ("model": "ensemble"; no "explain").

Ctrl-C or SIGTERM stops accepting requests and answers those accepted, for
up to 30 s (a client gets 20 s to read its answer), then exits: 0, or 1 when
some were still waiting. A second Ctrl-C stops it at once.`,
		examples: `emotion serve --checkpoint runs/dialog-session5/model.safetensors
curl -s localhost:8080/v1/predict -d '{"text": "I am so happy for you!", "speaker": "F"}'
curl -s localhost:8080/v1/predict -d '{"turns": [{"text": "Where were you?", "speaker": "F"}, {"text": "Out.", "speaker": "M"}], "explain": true}'
emotion serve --checkpoint model.safetensors --addr :8080 --device cuda --max-batch 1024 --batch-wait 2ms`,
		run: runServe,
	})
}

// serveMaxBody is the largest request body serve reads.
const serveMaxBody = 1 << 20

// serveQueue is how many requests may wait for the model; more are refused
// with 503 (and Retry-After) rather than queued without bound.
const serveQueue = 1024

// serveWriteTimeout is how long a client may take to read its answer (up
// to 6 MiB: JSON writes < and > as 6 bytes); less than the serveStopGrace a
// graceful stop waits for the handlers.
var serveWriteTimeout = 20 * time.Second

// serveStopGrace is how long a stop waits for the accepted requests to be
// answered before it gives up and exits 1.
var serveStopGrace = 30 * time.Second

// serveListening, when set (by tests), is called with the server and its
// address once it listens and has printed its start-up line, before any
// batch runs.
var serveListening func(*server, net.Addr)

func runServe(args []string) error {
	fs := newFlagSet("serve")
	ckpts := fs.StringArray("checkpoint", nil, "model checkpoint (model.safetensors[.zst]); give it more than once to serve the ensemble of the checkpoints (the mean of their probabilities)")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (host:port; :8080 for every interface, port 0 for any free one)")
	device := fs.String("device", "auto", "compute device: cpu, cuda or auto")
	maxBatch := fs.Int("max-batch", 64, "most turns predicted in one batch (a longer request is predicted in parts)")
	wait := fs.Duration("batch-wait", 0, "how long a batch waits for more requests before it runs (0: it takes the requests already waiting)")
	addThreadsFlag(fs)
	addDependentLaunchFlag(fs)
	if err := parseFlags(fs, args, false); err != nil {
		return err
	}
	if len(*ckpts) == 0 || slices.Contains(*ckpts, "") {
		return usagef("--checkpoint is required")
	}
	if *maxBatch < 1 {
		return usagef("--max-batch must be positive, not %d", *maxBatch)
	}
	if *wait < 0 {
		return usagef("--batch-wait must not be negative, not %v", *wait)
	}
	if err := checkThreads(); err != nil {
		return err
	}
	// The model runs on this goroutine, locked to its thread (a GPU
	// backend's context is the thread's); HTTP handlers hand it their work.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	be, err := newBackend(*device)
	if err != nil {
		return err
	}
	e, err := loadEnsemble(*ckpts, be)
	if err != nil {
		return err
	}
	defer e.release()
	s := newEnsembleServer(e, *ckpts, *maxBatch, *wait)
	if s.maxBatch != *maxBatch {
		fmt.Fprintf(stderr, "note: --max-batch %d is less than the model's window of %d turns; batches take up to %d\n",
			*maxBatch, s.info.Window, s.maxBatch)
	}

	ctx, cancel := commandContext()
	defer cancel()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", *addr, err)
	}
	hs := &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	served, serveEnded := make(chan error, 1), make(chan struct{})
	go func() {
		served <- hs.Serve(ln)
		close(serveEnded)
	}()
	what := fmt.Sprintf("the %s model of %s", s.info.Model, s.info.Checkpoint)
	if len(e) > 1 {
		kinds := make([]string, len(e))
		for i, m := range e {
			kinds[i] = m.net.Config().Kind
		}
		what = "the " + ensembleName(kinds)
	}
	fmt.Fprintf(stderr, "serving %s on %s at http://%s (Ctrl-C stops)\n", what, be.Name(), ln.Addr())
	if note := e.ignoredSpeakers(); note != "" {
		fmt.Fprintln(stderr, note)
	}
	if serveListening != nil {
		serveListening(s, ln.Addr())
	}

	// On a signal, stop accepting and let the handlers finish: the batches
	// keep running until every accepted request has its answer.
	stopped := make(chan struct{})
	var shutdownErr error
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
		case <-s.quit:
		case <-serveEnded: // it failed
		}
		// Stop catching signals: a second Ctrl-C ends the process at once
		// instead of waiting for the accepted requests.
		cancel()
		sctx, scancel := context.WithTimeout(context.Background(), serveStopGrace)
		defer scancel()
		shutdownErr = hs.Shutdown(sctx)
	}()
	s.serveBatches(stopped)
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	if shutdownErr != nil {
		return fmt.Errorf("serve: stopping: still answering accepted requests after %v (%w)", serveStopGrace, shutdownErr)
	}
	ok, failed, abandoned := s.metrics.summary()
	fmt.Fprintf(stderr, "stopped after %s: %d answered, %d refused or failed, %d left by their clients\n",
		plural(int(ok+failed+abandoned), "predict request", "predict requests"), ok, failed, abandoned)
	return nil
}

// server is the HTTP front of one predictor or an ensemble of them.
// Handlers queue jobs; one goroutine (serveBatches) owns the predictors and
// runs them in batches.
type server struct {
	members  ensemble // one predictor, or an ensemble's
	info     modelInfo
	maxBatch int
	wait     time.Duration
	queue    chan *serveJob
	// failed holds the error of the first batch whose prediction failed
	// (a device error): /healthz reports it.
	failed atomic.Pointer[error]
	// accepted counts the requests queued, answered those answered (a
	// long one in several jobs counts once), and batches the batches run.
	accepted, answered, batches atomic.Int64
	// predict is members.predictGroups (tests put failures in its place).
	predict func(groups [][]dataset.RawTurn, explain bool) ([][]predictOutput, error)
	// quit, closed by a test, stops the server as a signal would.
	quit chan struct{}
	// metrics are GET /metrics's counters.
	metrics *serveMetrics
}

// modelInfo is the answer of GET /v1/model.
type modelInfo struct {
	Model      string   `json:"model"` // sentence, dialog or ensemble
	Checkpoint string   `json:"checkpoint,omitempty"`
	Labels     []string `json:"labels,omitempty"`
	// Window is the turns per window of a dialog model (of an ensemble,
	// the longest of its dialog models').
	Window     int    `json:"window,omitempty"`
	Vocabulary int    `json:"vocabulary,omitempty"`
	Parameters int    `json:"parameters"`
	Device     string `json:"device,omitempty"`
	MaxBatch   int    `json:"max_batch,omitempty"`
	// Members describes an ensemble's checkpoints.
	Members []modelInfo `json:"members,omitempty"`
}

func newServer(p *predictor, ckpt string, maxBatch int, wait time.Duration) *server {
	return newEnsembleServer(ensemble{p}, []string{ckpt}, maxBatch, wait)
}

// newEnsembleServer serves the ensemble e of checkpoints ckpts.
func newEnsembleServer(e ensemble, ckpts []string, maxBatch int, wait time.Duration) *server {
	member := func(p *predictor, ckpt string) modelInfo {
		cfg := p.net.Config()
		m := modelInfo{Model: cfg.Kind, Checkpoint: ckpt, Vocabulary: p.vocab.Len(), Parameters: model.NumParams(p.net)}
		if cfg.Kind == model.KindDialog {
			m.Window = max(p.opts.Window, 1)
		}
		return m
	}
	info := member(e[0], ckpts[0])
	if len(e) > 1 {
		info = modelInfo{Model: "ensemble"}
		for i, p := range e {
			m := member(p, ckpts[i])
			info.Members = append(info.Members, m)
			info.Parameters += m.Parameters
			info.Window = max(info.Window, m.Window)
		}
	}
	info.Labels, info.Device, info.MaxBatch = dataset.LabelNames[:], e[0].be.Name(), maxBatch
	// A turn is predicted with its whole window: a batch of fewer turns
	// than a window could not predict one.
	if maxBatch < info.Window {
		maxBatch, info.MaxBatch = info.Window, info.Window
	}
	return &server{members: e, info: info, maxBatch: maxBatch, wait: wait, predict: e.predictGroups,
		queue: make(chan *serveJob, serveQueue), quit: make(chan struct{}), metrics: newServeMetrics(maxBatch)}
}

// serveRequest is the body of POST /v1/predict.
type serveRequest struct {
	predictInput
	Explain bool `json:"explain"`
}

// serveResponse is the answer of POST /v1/predict.
type serveResponse struct {
	Model       string          `json:"model"`
	Predictions []predictOutput `json:"predictions"`
}

// serveJob is one request waiting for its batch.
type serveJob struct {
	ctx     context.Context
	turns   []dataset.RawTurn
	explain bool
	done    chan serveResult // buffered: the batch never waits for a handler
}

type serveResult struct {
	preds []predictOutput
	err   error
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/predict", s.handlePredict)
	mux.HandleFunc("/v1/model", func(w http.ResponseWriter, r *http.Request) {
		if !allowMethod(w, r, http.MethodGet) {
			return
		}
		writeHTTPJSON(w, http.StatusOK, s.info)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if !allowMethod(w, r, http.MethodGet) {
			return
		}
		if err := s.failed.Load(); err != nil {
			writeHTTPJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "failed", "error": (*err).Error()})
			return
		}
		writeHTTPJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		if !allowMethod(w, r, http.MethodGet) {
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		s.metrics.write(w, s)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s: POST /v1/predict, GET /v1/model, GET /healthz or GET /metrics", r.URL.Path))
	})
	return mux
}

// allowMethod answers 405 unless r uses method (GET also allows HEAD).
func allowMethod(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method || (method == http.MethodGet && r.Method == http.MethodHead) {
		return true
	}
	allow := method
	if method == http.MethodGet {
		allow = "GET, HEAD"
	}
	w.Header().Set("Allow", allow)
	httpError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, method))
	return false
}

func (s *server) handlePredict(w http.ResponseWriter, r *http.Request) {
	start, rec := time.Now(), &statusRecorder{ResponseWriter: w}
	preds := s.answerPredict(rec, r)
	s.metrics.request(rec.status, time.Since(start), preds)
}

// answerPredict answers a predict request and returns the predictions it
// answered with (nil for an error, or a client that left unanswered).
func (s *server) answerPredict(w http.ResponseWriter, r *http.Request) []predictOutput {
	if !allowMethod(w, r, http.MethodPost) {
		return nil
	}
	turns, explain, status, err := s.decodeRequest(w, r)
	if err != nil {
		httpError(w, status, err.Error())
		return nil
	}
	full := func() {
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable, fmt.Sprintf("%d requests are waiting for the model: retry later", serveQueue))
	}
	if len(s.queue) == cap(s.queue) {
		full() // before the work of tokenising
		return nil
	}
	// Tokenise here, on the request's own goroutine, not in the batch: the
	// model's goroutine would tokenise every text in series with everyone's
	// prediction, all of it although only the first MaxLen tokens count.
	if len(s.members) == 1 { // an ensemble's members each have their own vocabulary
		p := s.members[0]
		for i := range turns {
			turns[i].IDs = dataset.EncodeText(p.vocab, p.opts, turns[i].Text)
		}
	}
	var preds []predictOutput
	for i, pc := range s.pieces(len(turns)) {
		job := &serveJob{ctx: r.Context(), turns: turns[pc.lo:pc.end], explain: explain, done: make(chan serveResult, 1)}
		if i == 0 {
			select {
			case s.queue <- job:
				s.accepted.Add(1)
			default:
				full()
				return nil
			}
		} else { // accepted: its later pieces wait for room
			select {
			case s.queue <- job:
			case <-r.Context().Done():
				return nil
			}
		}
		var res serveResult
		select {
		case res = <-job.done:
		case <-r.Context().Done(): // the client left; its batch skips or drops it
			return nil
		}
		if res.err != nil {
			httpError(w, http.StatusInternalServerError, res.err.Error())
			return nil
		}
		for k := pc.first - pc.lo; k < len(res.preds); k++ {
			out := res.preds[k]
			out.Turn = pc.lo + k + 1 // numbered in the whole request
			preds = append(preds, out)
		}
	}
	// A client that does not read its answer must not hold this handler,
	// and a graceful stop waiting for it, forever.
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(serveWriteTimeout))
	writeHTTPJSON(w, http.StatusOK, serveResponse{Model: s.info.Model, Predictions: preds})
	s.answered.Add(1)
	return preds
}

// piece is the part turns[lo:end] of a request that one job predicts, of
// which it answers turns[first:end]: the turns before first are the
// earlier turns of the first window (dialog model), predicted by the
// piece before.
type piece struct{ lo, first, end int }

// pieces cuts a request of n turns into jobs of at most maxBatch turns, so
// that a long dialog costs no more memory than a full batch: each piece
// after the first starts with the window−1 turns its first window needs
// (at least one new turn a piece, whatever the window).
func (s *server) pieces(n int) []piece {
	context := max(s.info.Window-1, 0) // a sentence model has no window
	var out []piece
	for first := 0; first < n; {
		lo := max(first-context, 0)
		end := min(max(lo+s.maxBatch, first+1), n)
		out = append(out, piece{lo, first, end})
		first = end
	}
	return out
}

// decodeRequest reads and checks a predict request: the turns to predict,
// whether to explain them, or an error and its HTTP status.
func (s *server) decodeRequest(w http.ResponseWriter, r *http.Request) (_ []dataset.RawTurn, explain bool, status int, _ error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, serveMaxBody))
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		return nil, false, http.StatusRequestEntityTooLarge, fmt.Errorf("request body over %d bytes", mbe.Limit)
	}
	if err == nil && !utf8.Valid(body) {
		return nil, false, http.StatusBadRequest, fmt.Errorf("request body: %w", checkUTF8(string(body)))
	}
	if err == nil {
		if serr := checkJSONSurrogates(string(body)); serr != nil {
			return nil, false, http.StatusBadRequest, fmt.Errorf("request body: %w", serr)
		}
	}
	var req serveRequest
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields() // {"txt": ...} is a typo, not an empty text
		if err = dec.Decode(&req); err == nil {
			if err = dec.Decode(&struct{}{}); err == io.EOF {
				err = nil
			} else {
				err = errors.New("more than one JSON value: give one utterance or dialog per request")
			}
		}
	}
	if err != nil {
		return nil, false, http.StatusBadRequest, fmt.Errorf("request body: %s: want a JSON object "+
			`{"text": "...", "speaker": "F"} or {"turns": [{"text": "...", "speaker": "M"}, ...]}`,
			jsonInputError(err))
	}
	if req.Explain && len(s.info.Members) > 0 {
		return nil, false, http.StatusBadRequest, fmt.Errorf(`"explain" shows one dialog model's attention over the context turns; this is an ensemble of %d checkpoints`, len(s.info.Members))
	}
	if req.Explain && s.info.Model != model.KindDialog {
		return nil, false, http.StatusBadRequest, fmt.Errorf(`"explain" shows the dialog model's attention over the context turns; this is a %s model`, s.info.Model)
	}
	in, err := req.turns()
	if err != nil {
		return nil, false, http.StatusBadRequest, fmt.Errorf("request: %w", err)
	}
	turns := make([]dataset.RawTurn, len(in))
	for i, t := range in {
		spk, err := parseSpeaker(t.Speaker)
		if err != nil {
			return nil, false, http.StatusBadRequest, fmt.Errorf("request: turn %d: %w", i+1, err)
		}
		if strings.TrimSpace(t.Text) == "" {
			return nil, false, http.StatusBadRequest, fmt.Errorf("request: turn %d: empty text", i+1)
		}
		turns[i] = dataset.RawTurn{Text: t.Text, Speaker: spk}
	}
	return turns, req.Explain, 0, nil
}

// serveBatches runs the queued jobs in batches until stop is closed (after
// the HTTP server has shut down, so that no handler waits for it any more).
// Each batch takes the jobs already waiting (and, with a wait, those that
// arrive within it) up to maxBatch turns; a job that would overflow it
// starts the next batch. A job whose client has left is dropped.
func (s *server) serveBatches(stop <-chan struct{}) {
	var next *serveJob
	for {
		first := next
		next = nil
		if first == nil {
			select {
			case first = <-s.queue:
			case <-stop:
				return
			}
		}
		if first.ctx.Err() != nil {
			continue // its client left: it needs no answer
		}
		jobs, n := []*serveJob{first}, len(first.turns)
		var timer *time.Timer
		var timeout <-chan time.Time
		if s.wait > 0 {
			timer = time.NewTimer(s.wait)
			timeout = timer.C
		}
	collect:
		for n < s.maxBatch {
			var j *serveJob
			if timeout == nil {
				select {
				case j = <-s.queue:
				default:
					break collect
				}
			} else {
				select {
				case j = <-s.queue:
				case <-timeout:
					break collect
				}
			}
			if j.ctx.Err() != nil {
				continue // its client left: it takes no room
			}
			if n+len(j.turns) > s.maxBatch {
				next = j
				break collect
			}
			jobs, n = append(jobs, j), n+len(j.turns)
		}
		if timer != nil {
			timer.Stop()
		}
		s.runBatch(jobs)
	}
}

// runBatch predicts jobs in one batch and answers each of them.
func (s *server) runBatch(jobs []*serveJob) {
	live := jobs[:0]
	for _, j := range jobs {
		if j.ctx.Err() == nil { // a client that left needs no answer
			live = append(live, j)
		}
	}
	if len(live) == 0 {
		return
	}
	groups := make([][]dataset.RawTurn, len(live))
	explain := false
	for i, j := range live {
		groups[i] = j.turns
		explain = explain || j.explain
	}
	s.batches.Add(1)
	start, turns := time.Now(), 0
	for _, g := range groups {
		turns += len(g)
	}
	outs, err := s.predict(groups, explain)
	s.metrics.batchRun(turns, time.Since(start), err != nil)
	if err != nil {
		err = fmt.Errorf("prediction failed: %w", err)
		s.failed.CompareAndSwap(nil, &err)
		fmt.Fprintf(stderr, "emotion serve: %v\n", err)
	}
	for i, j := range live {
		if err != nil {
			j.done <- serveResult{err: err}
			continue
		}
		if !j.explain {
			for k := range outs[i] {
				outs[i][k].Context = nil
			}
		}
		j.done <- serveResult{preds: outs[i]}
	}
}

// writeHTTPJSON writes v as the JSON body of a response with the given status.
func writeHTTPJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// httpError writes an error answer: {"error": msg}.
func httpError(w http.ResponseWriter, status int, msg string) {
	writeHTTPJSON(w, status, map[string]string{"error": msg})
}
