package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"runtime"
	"slices"
	"time"

	"github.com/emotionlab/emotion/host"
)

// OpTimer is implemented by a backend that times ops on its device itself,
// as CUDA events do. TimeOps calls f n times (f issues ops without waiting
// for them) and returns the device time between the start of the first op
// and the end of the last, and the wall time the n calls took to issue.
// Held, the device waits until all n calls are issued and then runs them
// back to back, so that the device time does not include the host's rate
// of issue (nvbench's blocking kernel); not held, a device that finishes an
// op before the next is issued waits for it.
type OpTimer interface {
	TimeOps(n int, held bool, f func()) (device, issue time.Duration, err error)
}

// timeGroup times n calls of f on be: with be's OpTimer when it has one,
// else with the wall clock between two Syncs (device and issue time then
// both the wall time).
func timeGroup(be host.Backend, n int, held bool, f func()) (device, issue time.Duration, err error) {
	if t, ok := be.(OpTimer); ok {
		return t.TimeOps(n, held, f)
	}
	if err := be.Sync(); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	for range n {
		f()
	}
	if err := be.Sync(); err != nil {
		return 0, 0, err
	}
	d := time.Since(start)
	return d, d, nil
}

// groupTarget is how long a timed group of calls should last, so that the
// clock and the synchronisation around it are noise.
const groupTarget = time.Millisecond

// heldLaunches is the most kernel launches and GEMMs a held group issues:
// well within what a CUDA stream queues (about a thousand) before a launch
// blocks the host, which behind a hold would stall the group.
const heldLaunches = 256

// timing is one op's measurement: the median device time per call and the
// median wall time per call to issue it, over the calls timed. hostPaced:
// asked to hold, the op waited for the device (host.ErrHostWaited), so it
// was timed without the hold.
type timing struct {
	device, issue time.Duration
	calls         int
	hostPaced     bool
}

// measure times call (which runs the op once) and returns the median time
// per call over groups of calls, held or not (see OpTimer). It spends
// about budget, at least three groups and at most 31. A held group issues
// at most heldLaunches launches, counted on a backend that counts them.
// An op that waits for the device inside a held group is timed again
// without the hold.
func measure(be host.Backend, call func(), budget time.Duration, held bool) (timing, error) {
	return measureRestoring(be, call, nil, budget, held)
}

// measureRestoring is measure with restore, when not nil, run before every
// group, untimed: an op in place, whose calls feed on their own outputs,
// starts each group from its inputs again.
func measureRestoring(be host.Backend, call, restore func(), budget time.Duration, held bool) (timing, error) {
	tm, err := measureGroups(be, call, restore, budget, held)
	if held && errors.Is(err, host.ErrHostWaited) {
		tm, err = measureGroups(be, call, restore, budget, false)
		tm.hostPaced = true
	}
	return tm, err
}

// measureGroups is measureRestoring, held or not.
func measureGroups(be host.Backend, call, restore func(), budget time.Duration, held bool) (timing, error) {
	if restore == nil {
		restore = func() {}
	}
	perCall := int64(0)
	if l, ok := be.(interface{ Launches() int64 }); ok && held {
		before := l.Launches()
		call()
		perCall = l.Launches() - before
	}
	restore()
	one, _, err := timeGroup(be, 1, held, call)
	if err != nil {
		return timing{}, err
	}
	one = max(one, time.Nanosecond)
	per := max(1, int(groupTarget/one))
	if perCall > 0 {
		per = max(1, min(per, heldLaunches/int(perCall)))
	}
	groups := min(max(int(budget/(time.Duration(per)*one)), 3), 31)
	var devices, issues []time.Duration
	for range groups {
		restore()
		d, is, err := timeGroup(be, per, held, call)
		if err != nil {
			return timing{}, err
		}
		devices = append(devices, d/time.Duration(per))
		issues = append(issues, is/time.Duration(per))
	}
	return timing{median(devices), median(issues), groups * per, false}, nil
}

// median sorts d and returns its median: the middle value, or the mean of
// the two middle ones.
func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}

// KernelOptions configure RunKernels.
type KernelOptions struct {
	Shapes Shapes
	// Ops, when not nil, keeps the cases whose "Op (variant)" name it
	// matches.
	Ops *regexp.Regexp
	// Budget is the time spent timing one case (about).
	Budget time.Duration
	// RotateBytes: inputs are copied until the copies hold at least this
	// much memory, and calls cycle through the copies (at most 512).
	RotateBytes int64
	// CopyBytes is the size of each of the two buffers of the copy
	// bandwidth ceiling; GemmN the size of the square SGEMM ceiling.
	CopyBytes int64
	GemmN     int
	// NoValidate skips the comparison with the reference backend.
	NoValidate bool
	// HostPaced times groups of calls as the host issues them, without
	// holding the device until a group is issued (see OpTimer): an op's
	// time is then the longer of its device time and the host's time to
	// issue it.
	HostPaced bool
}

// Ceilings are the device's measured limits that results are compared
// with.
type Ceilings struct {
	CopyGBps    float64 `json:"copy_gb_per_s"`
	CopyBytes   int64   `json:"copy_bytes"` // per buffer
	SgemmGFlops float64 `json:"sgemm_gflop_per_s"`
	SgemmN      int     `json:"sgemm_n"`
	// LaunchNS is the launch floor: the median time per call of the
	// smallest op, a Fill of one float, called back to back (on a GPU, one
	// kernel launch). No op of one launch is faster.
	LaunchNS float64 `json:"launch_ns"`
	// HostLaunchNS is the host's part of it: the wall time per call of
	// issuing the same Fills without waiting for them (groups of
	// hostIssueGroup, fewer than a CUDA stream queues). Near LaunchNS, the
	// host's rate of launches sets the floor; well under it, the device's.
	HostLaunchNS float64 `json:"host_launch_ns"`
	// UploadGBps and DownloadGBps are the host link's rates: an Upload
	// and a Download of one buffer of LinkBytes (CopyBytes, at most 64
	// MiB: an Upload stages its bytes in page-locked memory the backend
	// keeps), counted once. Upload and Download cases are judged by them
	// instead of the copy bandwidth, which their bytes never see on a GPU
	// (they cross the host link).
	UploadGBps   float64 `json:"upload_gb_per_s,omitempty"`
	DownloadGBps float64 `json:"download_gb_per_s,omitempty"`
	LinkBytes    int64   `json:"link_bytes,omitempty"`
}

// maxLinkBytes caps the host link measurement's buffer.
const maxLinkBytes = 64 << 20

// forLink returns c with the copy bandwidth replaced by the host link's
// rate in direction link (linkUpload, linkDownload; c itself for none).
func (c Ceilings) forLink(link string) Ceilings {
	switch link {
	case linkUpload:
		c.CopyGBps = c.UploadGBps
	case linkDownload:
		c.CopyGBps = c.DownloadGBps
	}
	return c
}

// The directions of a case that crosses the host link (kernelCase.link).
const (
	linkUpload   = "upload"
	linkDownload = "download"
)

// hostIssueGroup is how many calls a group of the HostLaunchNS
// measurement issues before it waits for the device.
const hostIssueGroup = 256

// hostIssueNS is the median over groups of the wall time per call of
// issuing hostIssueGroup calls of call on be without waiting between them.
func hostIssueNS(be host.Backend, call func()) (float64, error) {
	var times []float64
	for range 7 {
		if err := be.Sync(); err != nil {
			return 0, err
		}
		start := time.Now()
		for range hostIssueGroup {
			call()
		}
		times = append(times, float64(time.Since(start).Nanoseconds())/hostIssueGroup)
	}
	if err := be.Sync(); err != nil {
		return 0, err
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}

// BoundNS is the least time an op moving bytes and computing flops can
// take on a device with these ceilings: the longest of its traffic at the
// copy bandwidth, its FLOPs at the SGEMM rate and the launch floor (the
// ceilings that were not measured, zero, are left out).
func (c Ceilings) BoundNS(bytes, flops int64) float64 {
	b := c.LaunchNS
	if c.CopyGBps > 0 {
		b = max(b, float64(bytes)/c.CopyGBps)
	}
	if c.SgemmGFlops > 0 {
		b = max(b, float64(flops)/c.SgemmGFlops)
	}
	return b
}

// LaunchMode says how be launches kernels: "dependent" (programmatic
// dependent launch: each launch overlaps the kernel before it), "stream"
// (plain stream order), or "" for a backend without kernels (the CPU).
func LaunchMode(be host.Backend) string {
	d, ok := be.(interface{ DependentLaunch() bool })
	switch {
	case !ok:
		return ""
	case d.DependentLaunch():
		return "dependent"
	}
	return "stream"
}

// TimingMode names how o times ops: "held" or "host-paced" (see
// KernelOptions.HostPaced).
func TimingMode(o KernelOptions) string {
	if o.HostPaced {
		return "host-paced"
	}
	return "held"
}

// KernelResult is one op at one shape.
type KernelResult struct {
	Op       string         `json:"op"`
	Variant  string         `json:"variant"`
	Shape    string         `json:"shape"` // "B=32 T=50 H=64"
	Dims     map[string]int `json:"dims"`
	Bytes    int64          `json:"bytes"`
	Flops    int64          `json:"flops"`
	MedianNS float64        `json:"median_ns"`
	// IssueNS is the host's median wall time to issue one call (on a
	// GPU, its launches); above MedianNS, a loop of this op alone would be
	// paced by the host, not the device.
	IssueNS float64 `json:"issue_ns"`
	// HostPaced: the report's timing holds groups, but this op waits for
	// the device (a Download, an Upload), so it was timed as issued.
	HostPaced bool    `json:"host_paced,omitempty"`
	Calls     int     `json:"calls"`  // calls timed
	Copies    int     `json:"copies"` // input sets rotated through
	GBps      float64 `json:"gb_per_s"`
	GFlops    float64 `json:"gflop_per_s"`
	PctCopy   float64 `json:"pct_copy"`  // of the copy bandwidth ceiling (of the host link's, with Link)
	PctSgemm  float64 `json:"pct_sgemm"` // of the SGEMM ceiling
	// PctBound is 100·BoundNS / MedianNS: how close the op comes to the
	// least time the ceilings allow it, the launch floor included, so that
	// an op too small to be bound by bytes or FLOPs is judged on latency.
	PctBound float64 `json:"pct_bound"`
	// Link is "upload" or "download" for an op that crosses the host
	// link: its PctCopy and PctBound use that direction's measured rate
	// (Ceilings.UploadGBps, DownloadGBps) in place of the copy bandwidth.
	Link string `json:"link,omitempty"`
	// Validated is true when the outputs matched the reference backend's;
	// MaxErr is the largest relative error found (see the package
	// documentation): NaN when an output was NaN, +Inf when it differs from
	// an all-zero reference, both written as null in JSON, which has
	// neither.
	Validated bool    `json:"validated"`
	MaxErr    float64 `json:"max_rel_err"`
	Tolerance float64 `json:"tolerance"`
	// Error says why the case was not timed (a mismatch).
	Error string `json:"error,omitempty"`
}

// MarshalJSON writes r as its fields' tags say, with a MaxErr that is not
// finite as null: encoding/json refuses NaN and infinities, which would
// lose the whole report of a run in which a kernel wrote NaN, the very run
// whose report matters. Read back, null leaves MaxErr 0 (and Error says
// what failed).
func (r KernelResult) MarshalJSON() ([]byte, error) {
	type fields KernelResult // without this method
	v := struct {
		fields
		MaxErr *float64 `json:"max_rel_err"`
	}{fields: fields(r)}
	if !math.IsNaN(r.MaxErr) && !math.IsInf(r.MaxErr, 0) {
		v.MaxErr = &r.MaxErr
	}
	return json.Marshal(v)
}

// Name is "Op (variant)".
func (r KernelResult) Name() string {
	if r.Variant == "" {
		return r.Op
	}
	return r.Op + " (" + r.Variant + ")"
}

// KernelReport is the outcome of RunKernels.
type KernelReport struct {
	Date     string `json:"date"`    // start, UTC, RFC 3339
	Threads  int    `json:"threads"` // GOMAXPROCS
	Backend  string `json:"backend"`
	Launches string `json:"launches,omitempty"` // see LaunchMode
	// Timing is "held" (groups run back to back once issued: device time)
	// or "host-paced" (KernelOptions.HostPaced); see OpTimer.
	Timing    string         `json:"timing"`
	Reference string         `json:"reference"`
	Shapes    Shapes         `json:"shapes"`
	Ceilings  Ceilings       `json:"ceilings"`
	Results   []KernelResult `json:"results"`
	Failed    int            `json:"failed"` // cases whose validation failed
	// Targets are the ops of the kernel target at their largest shape run.
	Targets []Target `json:"targets"`
}

// ErrMismatch is wrapped by the error of a case whose outputs differ from
// the reference backend's.
var ErrMismatch = errors.New("outputs differ from the reference")

// CaseNames lists the "Op (variant)" names of the cases of s, once each, in
// order.
func CaseNames(s Shapes) []string {
	var names []string
	for _, c := range cases(s) {
		if n := c.name(); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// RunKernels validates every case of o.Shapes on be against ref (none
// when ref is nil or o.NoValidate) and times it, calling each (when not
// nil) with every result as it comes; rates are compared with ceil (see
// MeasureCeilings). A validation failure is a result with Error set and
// counts in Failed; the returned error is for a backend that failed (its
// error is sticky, so nothing after it could run).
func RunKernels(be, ref host.Backend, o KernelOptions, ceil Ceilings, each func(KernelResult)) (*KernelReport, error) {
	if o.Budget <= 0 {
		o.Budget = 100 * time.Millisecond
	}
	rep := &KernelReport{Date: time.Now().UTC().Format(time.RFC3339), Threads: runtime.GOMAXPROCS(0),
		Backend: be.Name(), Launches: LaunchMode(be), Timing: TimingMode(o), Shapes: o.Shapes, Ceilings: ceil}
	if o.NoValidate {
		ref = nil
	}
	if ref != nil {
		rep.Reference = ref.Name()
	}
	for _, c := range cases(o.Shapes) {
		if o.Ops != nil && !o.Ops.MatchString(c.name()) {
			continue
		}
		res, err := runCase(be, ref, c, o, ceil)
		if err != nil {
			return rep, fmt.Errorf("%s %s: %w", c.name(), formatDims(c.dims), err)
		}
		if res.Error != "" {
			rep.Failed++
		}
		rep.Results = append(rep.Results, res)
		if each != nil {
			each(res)
		}
	}
	rep.Targets = Targets(rep)
	for i := range rep.Targets {
		t := &rep.Targets[i]
		d, err := sameBytesCopy(be, t.Bytes, o)
		if err != nil {
			return rep, fmt.Errorf("a copy of %s's bytes: %w", t.Op, err)
		}
		t.SameBytesCopyNS = float64(d.Nanoseconds())
		t.PctOfSameBytesCopy = 100 * t.SameBytesCopyNS / max(t.MedianNS, 1e-3)
	}
	return rep, nil
}

// sameBytesCopy is the least time be takes to move bytes (half of them
// read, half written; at least one float each way): the faster of a Copy
// (on a GPU, the driver's device-to-device copy) and a Scale in place (a
// kernel launched as the ops' kernels are), each rotating through copies
// of its buffers as runCase does and timed as o times ops.
func sameBytesCopy(be host.Backend, bytes int64, o KernelOptions) (time.Duration, error) {
	n := int(max(bytes/8, 1))
	copies := rotationCopies(8*int64(n), o.RotateBytes)
	src, dst := make([]*host.F32, copies), make([]*host.F32, copies)
	for k := range src {
		src[k], dst[k] = be.Alloc(n), be.Alloc(n)
		be.Fill(src[k], 1)
		be.Fill(dst[k], 1)
	}
	defer func() {
		for k := range src {
			be.Free(src[k])
			be.Free(dst[k])
		}
	}()
	best := time.Duration(math.MaxInt64)
	for _, move := range []func(k int){
		func(k int) { be.Copy(dst[k], src[k]) },
		func(k int) { be.Scale(1, dst[k]) },
	} {
		next := 0
		tm, err := measure(be, func() {
			move(next)
			if next++; next == copies {
				next = 0
			}
		}, o.Budget, !o.HostPaced)
		if err != nil {
			return 0, err
		}
		best = min(best, tm.device)
	}
	return best, nil
}

// MeasureCeilings times a Copy between two buffers of o.CopyBytes (64 MiB
// when 0), square Gemms of o.GemmN (1024 when 0), A·B and A·Bᵀ, the
// faster counting, and a Fill of one float (the launch floor, and the
// host's part of it) on be, for the percentages of RunKernels.
func MeasureCeilings(be host.Backend, o KernelOptions) (Ceilings, error) {
	if o.Budget <= 0 {
		o.Budget = 100 * time.Millisecond
	}
	c := Ceilings{CopyBytes: o.CopyBytes, SgemmN: o.GemmN}
	if c.CopyBytes <= 0 {
		c.CopyBytes = 64 << 20
	}
	if c.SgemmN <= 0 {
		c.SgemmN = 1024
	}
	n := int(c.CopyBytes / 4)
	src, dst := be.Alloc(n), be.Alloc(n)
	be.Fill(src, 1)
	cp, err := measure(be, func() { be.Copy(dst, src) }, o.Budget, !o.HostPaced)
	be.Free(src)
	be.Free(dst)
	if err != nil {
		return c, fmt.Errorf("copy ceiling: %w", err)
	}
	c.CopyGBps = 8 * float64(n) / cp.device.Seconds() / 1e9

	c.LinkBytes = min(c.CopyBytes, maxLinkBytes)
	if c.UploadGBps, c.DownloadGBps, err = linkRates(be, int(c.LinkBytes/4), o.Budget, !o.HostPaced); err != nil {
		return c, fmt.Errorf("host link: %w", err)
	}

	if c.SgemmGFlops, err = sgemmRate(be, c.SgemmN, o.Budget, !o.HostPaced); err != nil {
		return c, fmt.Errorf("SGEMM ceiling: %w", err)
	}

	one := be.Alloc(1)
	defer be.Free(one)
	fill := func() { be.Fill(one, 1) }
	floor, err := measure(be, fill, o.Budget, !o.HostPaced)
	if err != nil {
		return c, fmt.Errorf("launch floor: %w", err)
	}
	c.LaunchNS = float64(floor.device.Nanoseconds())
	if c.HostLaunchNS, err = hostIssueNS(be, fill); err != nil {
		return c, fmt.Errorf("launch floor, host's part: %w", err)
	}
	return c, nil
}

// linkRates are the rates of an Upload and a Download of n floats on be,
// in GB/s, each counting its 4n bytes once.
func linkRates(be host.Backend, n int, budget time.Duration, held bool) (up, down float64, err error) {
	buf := be.Alloc(n)
	defer be.Free(buf)
	hst := make([]float32, n)
	for i := range hst {
		hst[i] = 1
	}
	u, err := measure(be, func() { be.Upload(buf, hst) }, budget, held)
	if err != nil {
		return 0, 0, fmt.Errorf("upload: %w", err)
	}
	d, err := measure(be, func() { be.Download(hst, buf) }, budget, held)
	if err != nil {
		return 0, 0, fmt.Errorf("download: %w", err)
	}
	gb := 4 * float64(n) / 1e9
	return gb / u.device.Seconds(), gb / d.device.Seconds(), nil
}

// sgemmRate is the better rate of the square Gemms C = A·B and C = A·Bᵀ
// of size g on be, in GFLOP/s: a backend may be faster at one (the models
// use both).
func sgemmRate(be host.Backend, g int, budget time.Duration, held bool) (float64, error) {
	a, b, m := be.Alloc(g*g), be.Alloc(g*g), be.Alloc(g*g)
	defer func() {
		be.Free(a)
		be.Free(b)
		be.Free(m)
	}()
	be.Fill(a, 0.5)
	be.Fill(b, 0.25)
	best := time.Duration(math.MaxInt64)
	for _, transB := range []bool{false, true} {
		t, err := measure(be, func() { be.Gemm(false, transB, g, g, g, 1, a, g, b, g, 0, m, g) }, budget, held)
		if err != nil {
			return 0, err
		}
		best = min(best, t.device)
	}
	return 2 * float64(g) * float64(g) * float64(g) / best.Seconds() / 1e9, nil
}

// runCase validates c against ref and times it on be.
func runCase(be, ref host.Backend, c *kernelCase, o KernelOptions, ceil Ceilings) (KernelResult, error) {
	res := KernelResult{Op: c.op, Variant: c.variant, Shape: formatDims(c.dims), Dims: map[string]int{},
		Bytes: c.bytes, Flops: c.flops, Tolerance: c.tol, Link: c.link}
	ceil = ceil.forLink(c.link)
	for _, d := range c.dims {
		res.Dims[d.Name] = d.Value
	}
	data := c.data()
	if ref != nil {
		maxErr, err := validate(be, ref, c, data)
		if err != nil && !errors.Is(err, ErrMismatch) {
			return res, err
		}
		res.MaxErr = maxErr
		if err != nil {
			res.Error = err.Error()
			return res, nil
		}
		res.Validated = true
	}

	copies := rotationCopies(c.footprint(), o.RotateBytes)
	insts := make([]*instance, copies)
	for k := range insts {
		insts[k] = c.build(be, data)
	}
	defer func() {
		for _, x := range insts {
			x.release(be)
		}
	}()
	for _, x := range insts { // warm-up: every copy once
		c.run(be, x)
	}
	if err := be.Sync(); err != nil {
		return res, err
	}
	// An op in place is timed from its inputs: its calls feed on their
	// own outputs (the LSTM backward's gradients become the next call's
	// gates, whose products decay into subnormal floats, slow on a CPU), so
	// every copy is reset from a pristine one before each group.
	var restore func()
	if c.inPlace {
		pristine := c.build(be, data)
		defer pristine.release(be)
		restore = func() {
			for _, x := range insts {
				for k, b := range x.f {
					be.Copy(b, pristine.f[k])
				}
			}
		}
	}
	next := 0
	tm, err := measureRestoring(be, func() {
		c.run(be, insts[next])
		if next++; next == len(insts) {
			next = 0
		}
	}, restore, o.Budget, !o.HostPaced)
	if err != nil {
		return res, err
	}
	d := tm.device
	res.Copies, res.Calls = copies, tm.calls
	res.MedianNS = float64(d.Nanoseconds())
	res.IssueNS = float64(tm.issue.Nanoseconds())
	res.HostPaced = tm.hostPaced && !o.HostPaced
	sec := max(d.Seconds(), 1e-12)
	res.GBps = float64(c.bytes) / sec / 1e9
	res.GFlops = float64(c.flops) / sec / 1e9
	if ceil.CopyGBps > 0 {
		res.PctCopy = 100 * res.GBps / ceil.CopyGBps
	}
	if ceil.SgemmGFlops > 0 {
		res.PctSgemm = 100 * res.GFlops / ceil.SgemmGFlops
	}
	res.PctBound = 100 * ceil.BoundNS(c.bytes, c.flops) / max(res.MedianNS, 1e-3)
	return res, nil
}

// rotationCopies is how many copies of an op's buffers of footprint bytes
// a run cycles through: enough to fill rotate bytes, at most 512, at least
// one.
func rotationCopies(footprint, rotate int64) int {
	if footprint <= 0 || rotate <= footprint {
		return 1
	}
	return int(min((rotate+footprint-1)/footprint, 512))
}

// validate runs c once on be and on ref from the same inputs and compares
// the outputs; a difference beyond c.tol is an error wrapping ErrMismatch.
// It returns the largest relative error.
func validate(be, ref host.Backend, c *kernelCase, data *caseData) (float64, error) {
	x, y := c.build(be, data), c.build(ref, data)
	defer x.release(be)
	defer y.release(ref)
	c.run(be, x)
	c.run(ref, y)
	got, want := c.outputs(be, x), c.outputs(ref, y)
	if err := be.Sync(); err != nil {
		return 0, err
	}
	if err := ref.Sync(); err != nil {
		return 0, fmt.Errorf("reference: %w", err)
	}
	worst := 0.0
	var bad error
	for k := range want {
		e, at := relErr(got[k], want[k])
		if e > worst || math.IsNaN(e) {
			worst = e
		}
		if !(e <= c.tol) && bad == nil {
			bad = fmt.Errorf("%w: output %d element %d is %g, want %g (relative error %.3g > %.0e)",
				ErrMismatch, k, at, got[k][at], want[k][at], e, c.tol)
		}
	}
	return worst, bad
}

// relErr returns max |got−want| / (|want| + rms(want)) and where it is; NaN
// when any value is NaN, the reference's included: a case is built from
// finite inputs, so a NaN on either side is a failure, not a match.
func relErr(got, want []float32) (float64, int) {
	if len(got) != len(want) {
		return math.Inf(1), 0
	}
	var ss float64
	for _, w := range want {
		ss += float64(w) * float64(w)
	}
	rms := math.Sqrt(ss / float64(max(len(want), 1)))
	worst, at := 0.0, 0
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		d := math.Abs(g - w)
		if g == w { // equal infinities too
			continue
		}
		den := math.Abs(w) + rms
		var e float64
		switch {
		case math.IsNaN(d):
			e = math.NaN()
		case den == 0:
			e = math.Inf(1)
		default:
			e = d / den
		}
		if math.IsNaN(e) {
			return e, i
		}
		if e > worst {
			worst, at = e, i
		}
	}
	return worst, at
}
