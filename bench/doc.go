// Package bench measures emotion's compute: every host.Backend op at the
// shapes the two models use (RunKernels), and whole training steps of the
// sentence and dialog models (RunTrain), on synthetic batches of IEMOCAP's
// shape (Synthetic) or on real data (RealBatches). The emotion command's
// "bench kernels" and "bench train" print its reports; the batches of a
// training benchmark can be written to a file (WriteBatches) that
// tests/pytorch_bench.py reads, so that PyTorch trains on the very same
// batches.
//
// It imports only host, model and dataset.
//
// # Kernel benchmarks
//
// RunKernels first measures three ceilings of the device on the same
// backend: the copy bandwidth (Copy of one large buffer into another,
// counted as 8 bytes per element), the SGEMM rate (the faster of the square
// Gemms C = A·B and C = A·Bᵀ, 2n³ FLOPs) and the launch floor (the time per
// call of a Fill of one float, back to back). Each result is given as a
// percentage of each ceiling and of its bound, the longest of its bytes at
// the copy bandwidth, its FLOPs at the SGEMM rate and the launch floor:
// a roofline with a floor under it, on which an op too small to be limited
// by bytes or FLOPs (a loss over a batch of 4 logits a row) is judged by
// its latency. It also measures the host link (an Upload and a Download of
// one buffer of the copy ceiling's size): Upload and Download cases move
// their bytes over it, not within device memory, so their percentages
// take its rate in place of the copy bandwidth. Then, for every op and
// shape, it
//
//  1. builds the op's inputs from a seeded generator, runs the op once on
//     the backend under test and once on a reference CPU backend, and
//     compares every output (see Tolerances); a mismatch is reported and the
//     op is not timed;
//  2. makes enough copies of the inputs and outputs that together they are
//     larger than the rotation budget (larger than the caches: the L2 of a
//     GPU, the L3 of a CPU), so that consecutive calls read cold memory as a
//     training step does; at most 512 copies, so that a case smaller than
//     a 512th of the budget stays in the cache (at a GPU's 256 MiB, the
//     cross-entropy's 0.9–13.6 MB of copies, about as warm as a training
//     step finds the logits its output GEMM has just written; the
//     softmax's 52.5 MB at B = 32, R = 10 about fill an H100's L2);
//  3. runs every copy once (warm-up), then times groups of calls, each
//     group long enough (about a millisecond) that the clock and the
//     synchronisation around it do not count, and reports the median time
//     per call over the groups.
//
// A backend that implements OpTimer times a group itself (CUDA events);
// otherwise a group is timed with the wall clock between two Syncs. By
// default a group is held: the device waits until the whole group is
// issued and then runs it back to back, so that its time is the device's
// and not the host's rate of issuing it (KernelOptions.HostPaced turns
// this off; an op that waits for the device is timed unheld and marked
// HostPaced in its result). Each result also carries the host's time to
// issue one call (IssueNS).
//
// Last, each target op (Targets) at its largest shape is set beside a copy
// of its own bytes, timed the same way (Target.SameBytesCopyNS): the least
// time anything moving those bytes takes on the device, fixed costs
// included.
//
// # Counting bytes and FLOPs
//
// Bytes are the traffic of one call as the kernels make it: every input
// element read once, every output element written once, an element that is
// read and written (accumulation, in-place update) counted twice; 4 bytes
// per float32 or int32. Where a kernel reads more than the op strictly
// needs, the count follows the kernel and the text below says so: the
// pre-activations of an ended LSTM row (3–5% of the LSTM gate ops' bytes
// at the largest shape, so their strict figure is that much lower), the
// steps of ended rows in the whole-sequence ops (12–14%), each direction's
// own read of SequenceToTimeMajor's input (27%). Traffic that a good kernel keeps in caches or registers (a row
// of a GEMM operand reused, a bias vector) is counted once. FLOPs count
// float arithmetic per element, a transcendental function (exp, tanh,
// sigmoid, sqrt) counting as one and a comparison as one; integer work
// (indices, Philox draws) is not counted. Per op, with n elements, a
// rows×cols matrix, B×T×F sequences with L = Σ lengths real positions, n
// token ids of which r are not PAD (a PAD row is written, not read) and u
// distinct (the forward reads each distinct row of the table once, a
// repeated id's row coming from cache as a GEMM operand's reused row does;
// the backward's plan: u segments of r positions, each segment's row read
// and written once), and H the LSTM hidden size:
//
//	op                      bytes                         FLOPs
//	Fill                    4n                            0
//	Copy                    8n                            0
//	Copy2D                  8·rows·cols                   0
//	Axpy                    12n                           2n
//	Scale                   8n                            n
//	Sum                     4n                            n
//	SumSquares              4n                            2n
//	Gemm (beta 0)           4(mk + kn + mn)               2mnk
//	Gemm (beta ≠ 0)         4(mk + kn + 2mn)              2mnk + 2mn
//	GemmStridedBatched      batch × Gemm's
//	AddBias                 8·rows·cols + 4·cols          rows·cols
//	BiasGrad                4·rows·cols + 8·cols          rows·cols
//	ReLU                    8n                            n
//	ReLUBackward            12n                           n
//	Tanh                    8n                            n
//	TanhBackward            12n                           3n
//	Dropout(Backward)       8n                            n
//	EmbeddingForward        4n + 4·(u + n)·dim            0
//	EmbeddingBackward       4(2u + 1 + r) + 4(r + 2u)·dim r·dim
//	SequenceToTimeMajor     4B + dirs·(4·L·F + 4·B·T·F)   0
//	SequenceFromTimeMajor   4B + dirs·(4·L·F + 4·B·T·F)   0
//	LSTMGatesForward        4B + 4·dirs·(11·Br + 8·Be)·H  dirs·Br·H·9
//	LSTMGatesBackward       4B + 4·dirs·(13·Br + 15·Be)·H dirs·H·(23·Br + Be)
//	LSTMSequenceForward     4B + 4·dirs·(T·B·6H + L·4H + 4H²)  dirs·H·(8H·(T−1)·B + 13L)
//	LSTMSequenceBackward    4B + 4·dirs·(T·B·10H + BH + 4H²)  dirs·H·(8H·(T−1)·B + 24L + T·B − L)
//	Transpose               8·batch·rows·cols             0
//	SplitHeads, MergeHeads  8n                            0
//	SoftmaxForward          8·rows·cols + 4·rows/rpl      6·rows·cols
//	SoftmaxBackward         12·rows·cols + 4·rows/rpl     5·rows·cols
//	CrossEntropy            12·n·c + 4n + 4c + 4          9·n·c
//	MeanPool                4B + 4·L·F + 4·B·F            L·F + B·F
//	MeanPoolBackward        4B + 4·B·F + 4·B·T·F          L·F
//	AdamStep (ZeroGrad)     32n                           14n
//	Upload, Download        4n (over the host link)       0
//
// An LSTM step of Br running and Be ended rows reads a running row's 4H
// pre-activations and c of the step before and writes the 4H activated
// gates, c and h (11H per row and direction: h of the step before went into
// the caller's GEMM); an ended row carries c and h (its pre-activations,
// c and h read, c and h written: 8H). A running unit's FLOPs are three
// sigmoids, two tanh and the four multiply-adds of c and h; an ended one
// only copies. Its backward reads the gates, c at s and s−1, dh and dc, and
// writes dpre and dc at s−1 (13H; an ended row also adds dh_s into
// dh_{s−1}: 15H); 23 FLOPs per running unit, 1 per ended one. The
// whole-sequence ops run T such steps with the recurrent product inside:
// the weights once per direction (4H², from cache after the first step); per
// step and row what the op must read and write, its own earlier outputs
// (h_{s−1}, dpre_{s+1}, c) not read back: forward 6H (the pre-activations
// in, c and h out) and 4H more for a running row (its gates out: L = Σ
// lengths such row-steps); backward 10H (the gates, c and dh_s in, each
// c once; dpre out), and no dh or dc written back, dc living in registers,
// whose first value is read once (BH). Their FLOPs: the recurrent product,
// 2·4H per unit of every row (the kernels compute it for ended rows too) at
// the T − 1 steps that have one (none at the forward's first step, where
// h_{−1} is 0, nor at the backward's last, where no dpre follows), and per
// running unit the step's cell and the add of the product (forward 9 + 4,
// backward 23 + 1); an ended unit only copies forward and adds its carried
// dh backward (1).
// Softmax takes max, scale-and-subtract, exp, sum and a multiply by the
// reciprocal; its backward a dot product and three multiply-adds. Adam's
// update is 14 FLOPs per element (two moment updates, two bias corrections,
// sqrt, eps, divide, learning rate, subtract); it reads p, g, m and v and
// writes p, m, v and the zeroed g.
//
// # Tolerances
//
// An output passes when max |got − want| / (|want| + rms(want)) is at most
// 1e-5 for elementwise ops and copies, and 1e-4 for reductions, GEMMs and
// ops with exponentials or accumulation in another order (softmax, cross-
// entropy, LSTM gates, Adam, scatter-adds), as DESIGN.md sets them. rms is
// the root mean square of the reference output, so that elements near zero
// are judged on the scale of the whole output.
package bench
