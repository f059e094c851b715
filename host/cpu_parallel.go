package host

import (
	"sync"
	"sync/atomic"
)

// cpuWorkers is a small persistent pool of goroutines that run the tasks of
// one op at a time. The goroutine that issues the op takes part as worker 0;
// helpers 1…n−1 wait on wake. Tasks are numbered and taken in order from an
// atomic counter, so a slow (shared) core does not hold the others up; which
// worker runs a task never changes what the task computes, so results do not
// depend on the number of threads.
type cpuWorkers struct {
	n          int // workers, the caller included
	wake       chan *cpuJob
	job        cpuJob
	dispatches int // runs that woke helpers (tests check ops go parallel)
}

// cpuJob is the op being run: tasks 0…tasks−1 of fn.
type cpuJob struct {
	fn    func(worker, task int)
	tasks int64
	next  atomic.Int64
	wg    sync.WaitGroup
}

// newCPUWorkers starts n−1 helper goroutines. They stop when close is called.
func newCPUWorkers(n int) *cpuWorkers {
	w := &cpuWorkers{n: n, wake: make(chan *cpuJob, n)}
	for id := 1; id < n; id++ {
		go func() {
			for j := range w.wake {
				j.work(id)
				j.wg.Done()
			}
		}()
	}
	return w
}

// close stops the helpers.
func (w *cpuWorkers) close() { close(w.wake) }

// run calls fn(worker, task) for every task in [0, tasks) and returns when
// all have finished. worker is in [0, n) and no two concurrent calls share
// it, so fn may use per-worker scratch memory. run must not be called from
// inside fn, nor concurrently.
func (w *cpuWorkers) run(tasks int, fn func(worker, task int)) {
	if tasks <= 0 {
		return
	}
	helpers := min(w.n-1, tasks-1)
	if helpers <= 0 {
		for t := range tasks {
			fn(0, t)
		}
		return
	}
	w.dispatches++
	j := &w.job
	j.fn = fn
	j.tasks = int64(tasks)
	j.next.Store(0)
	j.wg.Add(helpers)
	for range helpers {
		w.wake <- j
	}
	j.work(0)
	j.wg.Wait()
	j.fn = nil
}

func (j *cpuJob) work(worker int) {
	for {
		t := j.next.Add(1) - 1
		if t >= j.tasks {
			return
		}
		j.fn(worker, int(t))
	}
}

// Minimum work per task; an op runs on the calling goroutine alone below
// twice as much. A dispatch to warm helpers costs 0.4 µs (BenchmarkCPUDispatch)
// and waking parked ones a few µs more, so a task should hold some 10–20 µs
// of work: 32768 elements of a cheap elementwise op (an Axpy of 16384
// elements takes 7 µs on one core), 8192 of an exp/tanh-bound one (a Tanh of
// 4096 takes 9 µs). The LSTM cell, five transcendental functions per unit,
// takes a quarter of that in units.
const (
	cpuGrainCheap = 1 << 15
	cpuGrainMath  = 1 << 13
)

// chunks returns how many tasks n units of work are cut into when each task
// should hold at least grain units: 1 (run serially) for small work, else up
// to four tasks per worker so that dynamic scheduling can balance load.
func (c *CPU) chunks(n, grain int) int {
	if c.work.n == 1 || n < 2*grain {
		return 1
	}
	return min(n/grain, 4*c.work.n)
}

// parallelRange runs body over [0, n) cut into the given number of
// contiguous chunks (see chunks); with one chunk it calls body(0, n) directly.
func (c *CPU) parallelRange(n, chunks int, body func(lo, hi int)) {
	if chunks <= 1 {
		body(0, n)
		return
	}
	c.work.run(chunks, func(_, t int) {
		body(n*t/chunks, n*(t+1)/chunks)
	})
}
