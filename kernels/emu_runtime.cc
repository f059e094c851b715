//go:build cudaemu

// emu_runtime.cc: the emulated device of the cudaemu build: an allocator
// that knows every allocation, a block scheduler that runs each CUDA thread
// as a ucontext fiber and checks that barriers are met, and a column-major
// SGEMM with cuBLAS's semantics.
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "emu_launch.h"

namespace emu {

thread_local ThreadState ts;

namespace {
// interval is barrier_interval(): bumped at every block and every released
// __syncthreads() of the blocks this OS thread runs.
thread_local uint64_t interval = 0;
// block_start is the interval at which the current block began.
thread_local uint64_t block_start = 0;
}  // namespace

uint64_t barrier_interval() { return interval; }
uint64_t block_interval() { return block_start; }

// ---------------------------------------------------------------- memory

namespace {

constexpr size_t kAlign = 256;  // cudaMalloc's alignment
constexpr size_t kGuard = 256;  // guard bytes after each allocation
constexpr unsigned char kGuardByte = 0xA5;

struct Alloc {
  size_t bytes;  // as asked
  void* block;   // what malloc returned
};

std::mutex mem_mu;
std::map<uint64_t, Alloc> allocs;  // by device address
size_t in_use = 0;
size_t capacity = size_t(8) << 30;

}  // namespace

bool find_allocation(uint64_t p, Span* out) {
  std::lock_guard<std::mutex> l(mem_mu);
  auto it = allocs.upper_bound(p);
  if (it == allocs.begin()) return false;
  --it;
  if (p >= it->first + it->second.bytes && !(p == it->first && it->second.bytes == 0)) return false;
  out->lo = reinterpret_cast<const char*>(it->first);
  out->hi = out->lo + it->second.bytes;
  return true;
}

std::string kind_name(int kind) {
  switch (kind) {
    case EMU_ARG_I32:
      return "int32";
    case EMU_ARG_U64:
      return "uint64";
    case EMU_ARG_F32:
      return "float32";
    case EMU_ARG_PTR:
      return "pointer";
  }
  return "kind " + std::to_string(kind);
}

// ---------------------------------------------------------------- fibers

namespace {

enum class State { kNew, kReady, kAtBarrier, kAtWarp, kDone };
enum class WarpOp { kSync, kExchange, kBallot };

struct Fiber {
  ucontext_t ctx;
  char* stack = nullptr;
  State state = State::kNew;
  uint3 tid{};
  int linear = 0;
  // Posted at a warp barrier.
  WarpOp op = WarpOp::kSync;
  unsigned mask = 0;
  uint64_t value = 0;
  int src = 0;
  uint64_t result = 0;
  bool synced = false;  // past GRID_DEPENDENCY_SYNC()
};

struct Block {
  ucontext_t sched;
  std::vector<Fiber> fibers;
  int nthreads = 0;
  Body body{};
  bool failed = false;
  char* err = nullptr;
  int errlen = 0;
};

constexpr size_t kStackBytes = 128 << 10;
thread_local Block* blk = nullptr;
thread_local Fiber* cur = nullptr;
thread_local std::vector<char*> stack_pool;

size_t page_size() {
  static size_t p = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

// get_stack returns a fiber stack with an inaccessible guard page below it.
char* get_stack() {
  if (!stack_pool.empty()) {
    char* s = stack_pool.back();
    stack_pool.pop_back();
    return s;
  }
  size_t pg = page_size();
  void* m = mmap(nullptr, kStackBytes + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  mprotect(m, pg, PROT_NONE);
  return static_cast<char*>(m) + pg;
}

void put_stack(char* s) {
  if (s != nullptr) stack_pool.push_back(s);
}

void fiber_entry() {
  Block* b = blk;
  b->body.fn(b->body.arg);
  cur->state = State::kDone;
  swapcontext(&cur->ctx, &b->sched);
  std::abort();  // a finished fiber is never resumed
}

void block_error(Block* b, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void block_error(Block* b, const char* fmt, ...) {
  if (b->failed) return;
  b->failed = true;
  int n = std::snprintf(b->err, b->errlen, "block (%u,%u,%u): ", ts.bid.x, ts.bid.y, ts.bid.z);
  if (n < 0 || n >= b->errlen) return;
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(b->err + n, b->errlen - n, fmt, ap);
  va_end(ap);
}

const char* state_name(State s) {
  switch (s) {
    case State::kNew:
    case State::kReady:
      return "running";
    case State::kAtBarrier:
      return "waiting at __syncthreads()";
    case State::kAtWarp:
      return "waiting at a warp barrier";
    case State::kDone:
      return "exited";
  }
  return "?";
}

// yield parks the current fiber (its state already set) and runs the scheduler.
void yield() { swapcontext(&cur->ctx, &blk->sched); }

// release_warp releases warp w when every lane its waiting lanes name has
// arrived; it reports false after recording an error.
bool release_warp(Block* b, int w, bool* released) {
  int first = w * 32;
  int last = first + 32 < b->nthreads ? first + 32 : b->nthreads;
  Fiber* lead = nullptr;
  for (int i = first; i < last; i++) {
    if (b->fibers[i].state == State::kAtWarp) {
      lead = &b->fibers[i];
      break;
    }
  }
  if (lead == nullptr) return true;
  unsigned mask = lead->mask;
  if (last - first < 32 && (mask >> (last - first)) != 0) {
    // A lane the block does not have never arrives: undefined on a GPU.
    block_error(b, "warp %d has %d lanes, but a warp operation's mask %#x names lanes beyond them", w, last - first,
                mask);
    return false;
  }
  for (int i = first; i < last; i++) {
    Fiber& f = b->fibers[i];
    int lane = i - first;
    bool in = (mask >> lane) & 1u;
    if (f.state == State::kAtWarp) {
      if (f.mask != mask || f.op != lead->op) {
        block_error(b, "warp %d: lanes %d and %d wait at different warp operations (masks %#x and %#x)", w,
                    lead->linear - first, lane, mask, f.mask);
        return false;
      }
      if (!in) {
        block_error(b, "warp %d: lane %d calls a warp operation with mask %#x that leaves it out", w, lane, mask);
        return false;
      }
    } else if (in) {
      block_error(b, "warp %d: lane %d (thread %u,%u,%u) is %s while lanes of mask %#x wait for it at a warp barrier",
                  w, lane, f.tid.x, f.tid.y, f.tid.z, state_name(f.state), mask);
      return false;
    }
  }
  unsigned ballot = 0;
  for (int i = first; i < last; i++) {
    Fiber& f = b->fibers[i];
    if (f.state == State::kAtWarp && f.value != 0) ballot |= 1u << (i - first);
  }
  for (int i = first; i < last; i++) {
    Fiber& f = b->fibers[i];
    if (f.state != State::kAtWarp) continue;
    switch (f.op) {
      case WarpOp::kSync:
        break;
      case WarpOp::kBallot:
        f.result = ballot;
        break;
      case WarpOp::kExchange: {
        int src = first + f.src;
        if (f.src < 0 || f.src >= 32 || src >= last) {
          f.result = f.value;  // no such lane: the caller's own value
        } else if (!((mask >> f.src) & 1u)) {
          block_error(b, "warp %d: lane %d reads lane %d, which is not in mask %#x", w, i - first, f.src, mask);
          return false;
        } else {
          f.result = b->fibers[src].value;
        }
        break;
      }
    }
    f.state = State::kReady;
  }
  *released = true;
  return true;
}

// run_block runs the threads of one block to completion.
bool run_block(Block* b) {
  for (;;) {
    bool progress = false;
    for (int i = 0; i < b->nthreads; i++) {
      Fiber& f = b->fibers[i];
      if (f.state == State::kNew) {
        f.stack = get_stack();
        if (f.stack == nullptr) {
          block_error(b, "out of host memory for fiber stacks");
          return false;
        }
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack;
        f.ctx.uc_stack.ss_size = kStackBytes;
        f.ctx.uc_link = nullptr;
        makecontext(&f.ctx, fiber_entry, 0);
        f.state = State::kReady;
      }
      if (f.state != State::kReady) continue;
      cur = &f;
      ts.tid = f.tid;
      ts.synced = f.synced;
      swapcontext(&b->sched, &f.ctx);
      cur = nullptr;
      progress = true;
      if (b->failed) return false;
      if (f.state == State::kDone) {
        put_stack(f.stack);
        f.stack = nullptr;
      }
    }
    int nwarps = (b->nthreads + 31) / 32;
    for (int w = 0; w < nwarps; w++) {
      if (!release_warp(b, w, &progress)) return false;
    }
    if (progress) continue;
    int waiting = 0;
    const Fiber* exited = nullptr;
    for (int i = 0; i < b->nthreads; i++) {
      const Fiber& f = b->fibers[i];
      if (f.state == State::kAtBarrier) waiting++;
      if (f.state == State::kDone && exited == nullptr) exited = &f;
    }
    if (waiting == 0) return true;  // every thread exited
    if (waiting != b->nthreads) {
      block_error(b,
                  "__syncthreads() reached by %d of %d threads: thread (%u,%u,%u) exited without reaching it "
                  "(a missing or divergent barrier)",
                  waiting, b->nthreads, exited->tid.x, exited->tid.y, exited->tid.z);
      return false;
    }
    interval++;  // every thread is past the barrier
    for (int i = 0; i < b->nthreads; i++) b->fibers[i].state = State::kReady;
  }
}

void abandon(Block* b) {
  for (auto& f : b->fibers) {
    put_stack(f.stack);
    f.stack = nullptr;
  }
}

}  // namespace

void fail(const char* fmt, ...) {
  Block* b = blk;
  if (b == nullptr || cur == nullptr) {
    std::fprintf(stderr, "cudaemu: device error outside a kernel\n");
    std::abort();
  }
  if (!b->failed) {
    b->failed = true;
    int n = std::snprintf(b->err, b->errlen, "block (%u,%u,%u) thread (%u,%u,%u): ", ts.bid.x, ts.bid.y,
                          ts.bid.z, ts.tid.x, ts.tid.y, ts.tid.z);
    if (n >= 0 && n < b->errlen) {
      va_list ap;
      va_start(ap, fmt);
      std::vsnprintf(b->err + n, b->errlen - n, fmt, ap);
      va_end(ap);
    }
  }
  cur->state = State::kDone;
  swapcontext(&cur->ctx, &b->sched);
  std::abort();  // a failed launch is abandoned, never resumed
}

void grid_dependency_sync() {
  cur->synced = true;
  ts.synced = true;
}

void syncthreads() {
  cur->state = State::kAtBarrier;
  yield();
}

int lane_id() { return cur->linear & 31; }

int thread_linear() { return cur->linear; }

static uint64_t warp_op(WarpOp op, unsigned mask, uint64_t value, int src) {
  Fiber* f = cur;
  f->op = op;
  f->mask = mask;
  f->value = value;
  f->src = src;
  f->state = State::kAtWarp;
  yield();
  return f->result;
}

void syncwarp(unsigned mask) { warp_op(WarpOp::kSync, mask, 0, 0); }

uint64_t warp_exchange(unsigned mask, uint64_t bits, int src) { return warp_op(WarpOp::kExchange, mask, bits, src); }

unsigned warp_ballot(unsigned mask, int pred) {
  return static_cast<unsigned>(warp_op(WarpOp::kBallot, mask, pred != 0, 0));
}

bool run_grid(const unsigned grid[3], const unsigned block[3], Body body, char* err, int errlen) {
  Block b;
  b.nthreads = static_cast<int>(block[0] * block[1] * block[2]);
  b.fibers.resize(b.nthreads);
  b.body = body;
  b.err = err;
  b.errlen = errlen;
  for (int i = 0; i < b.nthreads; i++) {
    Fiber& f = b.fibers[i];
    f.linear = i;
    f.tid = uint3{i % block[0], (i / block[0]) % block[1], i / (block[0] * block[1])};
  }
  Block* saved_blk = blk;
  blk = &b;
  ts.bdim = uint3{block[0], block[1], block[2]};
  ts.gdim = uint3{grid[0], grid[1], grid[2]};
  bool ok = true;
  for (unsigned z = 0; z < grid[2] && ok; z++) {
    for (unsigned y = 0; y < grid[1] && ok; y++) {
      for (unsigned x = 0; x < grid[0] && ok; x++) {
        ts.bid = uint3{x, y, z};
        for (auto& f : b.fibers) {
          f.state = State::kNew;
          f.synced = false;
        }
        interval++;  // a new block: the shared memory it inherits was another's
        block_start = interval;
        ok = run_block(&b);
        abandon(&b);
      }
    }
  }
  blk = saved_blk;
  return ok;
}

}  // namespace emu

// ---------------------------------------------------------------- C API

using emu::allocs;
using emu::mem_mu;

extern "C" {

uint64_t emu_malloc(size_t bytes) {
  std::lock_guard<std::mutex> l(mem_mu);
  if (bytes > emu::capacity || emu::in_use > emu::capacity - bytes) return 0;
  void* block = nullptr;
  if (posix_memalign(&block, emu::kAlign, bytes + emu::kGuard) != 0) return 0;
  std::memset(block, 0xff, bytes);
  std::memset(static_cast<char*>(block) + bytes, emu::kGuardByte, emu::kGuard);
  uint64_t p = reinterpret_cast<uint64_t>(block);
  allocs[p] = emu::Alloc{bytes, block};
  emu::in_use += bytes;
  return p;
}

int emu_free(uint64_t p, char* err, int errlen) {
  std::lock_guard<std::mutex> l(mem_mu);
  auto it = allocs.find(p);
  if (it == allocs.end()) {
    std::snprintf(err, errlen, "free of 0x%llx, which is not an allocation", static_cast<unsigned long long>(p));
    return -1;
  }
  int rc = 0;
  const unsigned char* guard = static_cast<const unsigned char*>(it->second.block) + it->second.bytes;
  for (size_t i = 0; i < emu::kGuard; i++) {
    if (guard[i] != emu::kGuardByte) {
      std::snprintf(err, errlen, "allocation 0x%llx of %zu bytes: guard byte %zu past its end was overwritten",
                    static_cast<unsigned long long>(p), it->second.bytes, i);
      rc = -1;  // reported, and freed all the same
      break;
    }
  }
  emu::in_use -= it->second.bytes;
  std::free(it->second.block);
  allocs.erase(it);
  return rc;
}

int emu_check_range(uint64_t p, size_t bytes, char* err, int errlen) {
  emu::Span s;
  if (!emu::find_allocation(p, &s)) {
    std::snprintf(err, errlen, "0x%llx is not device memory", static_cast<unsigned long long>(p));
    return -1;
  }
  const char* q = reinterpret_cast<const char*>(p);
  if (bytes > static_cast<size_t>(s.hi - q)) {
    std::snprintf(err, errlen, "%zu bytes at 0x%llx run %zu bytes past the end of an allocation of %td bytes", bytes,
                  static_cast<unsigned long long>(p), bytes - static_cast<size_t>(s.hi - q), s.hi - s.lo);
    return -1;
  }
  return 0;
}

int emu_copy_to_device(uint64_t dst, const void* src, size_t bytes, char* err, int errlen) {
  if (bytes == 0) return 0;
  if (emu_check_range(dst, bytes, err, errlen) != 0) return -1;
  std::memmove(reinterpret_cast<void*>(dst), src, bytes);
  return 0;
}

int emu_copy_to_host(void* dst, uint64_t src, size_t bytes, char* err, int errlen) {
  if (bytes == 0) return 0;
  if (emu_check_range(src, bytes, err, errlen) != 0) return -1;
  std::memmove(dst, reinterpret_cast<const void*>(src), bytes);
  return 0;
}

int emu_copy_device(uint64_t dst, uint64_t src, size_t bytes, char* err, int errlen) {
  if (bytes == 0) return 0;
  if (emu_check_range(src, bytes, err, errlen) != 0) return -1;
  if (emu_check_range(dst, bytes, err, errlen) != 0) return -1;
  std::memmove(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), bytes);
  return 0;
}

int emu_memset32(uint64_t dst, uint32_t v, size_t n, char* err, int errlen) {
  if (n == 0) return 0;
  if (emu_check_range(dst, 4 * n, err, errlen) != 0) return -1;
  uint32_t* w = reinterpret_cast<uint32_t*>(dst);
  for (size_t i = 0; i < n; i++) w[i] = v;
  return 0;
}

void emu_set_capacity(size_t bytes) {
  std::lock_guard<std::mutex> l(mem_mu);
  emu::capacity = bytes;
}

size_t emu_in_use(void) {
  std::lock_guard<std::mutex> l(mem_mu);
  return emu::in_use;
}

size_t emu_capacity(void) {
  std::lock_guard<std::mutex> l(mem_mu);
  return emu::capacity;
}

int emu_launch(const char* name, const unsigned grid[3], const unsigned block[3], unsigned shared,
               const emu_arg* args, int nargs, char* err, int errlen) {
  const emu::Kernel* k = nullptr;
  for (int i = 0; i < emu::num_kernels; i++) {
    if (std::strcmp(emu::kernels[i].name, name) == 0) {
      k = &emu::kernels[i];
      break;
    }
  }
  if (k == nullptr) {
    std::snprintf(err, errlen, "no kernel named %s", name);
    return -1;
  }
  // The limits of every device since compute capability 3.0.
  if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0 || block[0] == 0 || block[1] == 0 || block[2] == 0) {
    std::snprintf(err, errlen, "invalid launch shape: a grid or block dimension is 0");
    return -1;
  }
  if (grid[0] > 2147483647u || grid[1] > 65535u || grid[2] > 65535u) {
    std::snprintf(err, errlen, "invalid launch shape: grid (%u,%u,%u) exceeds (2^31-1, 65535, 65535)", grid[0],
                  grid[1], grid[2]);
    return -1;
  }
  if (block[0] > 1024u || block[1] > 1024u || block[2] > 64u ||
      static_cast<uint64_t>(block[0]) * block[1] * block[2] > 1024u) {
    std::snprintf(err, errlen, "invalid launch shape: block (%u,%u,%u) exceeds 1024 threads (or 1024, 1024, 64)",
                  block[0], block[1], block[2]);
    return -1;
  }
  if (shared > 48u * 1024u) {
    std::snprintf(err, errlen, "invalid launch shape: %u bytes of dynamic shared memory exceed 48 KiB", shared);
    return -1;
  }
  return k->launch(grid, block, args, nargs, err, errlen) ? 0 : -1;
}

int emu_kernel_names(char* buf, int len) {
  std::string all;
  for (int i = 0; i < emu::num_kernels; i++) {
    if (i > 0) all += '\n';
    all += emu::kernels[i].name;
  }
  if (buf != nullptr && len > 0) std::snprintf(buf, len, "%s", all.c_str());
  return static_cast<int>(all.size()) + 1;
}

// check_matrix checks that a column-major rows×cols matrix with leading
// dimension ld, batch times at stride, lies inside one allocation.
static int check_matrix(const char* what, uint64_t p, int rows, int cols, int ld, int64_t stride, int batch,
                        char* err, int errlen) {
  if (ld < (rows > 1 ? rows : 1)) {
    std::snprintf(err, errlen, "%s: leading dimension %d < %d rows (CUBLAS_STATUS_INVALID_VALUE)", what, ld, rows);
    return -1;
  }
  if (rows == 0 || cols == 0) return 0;
  for (int i = 0; i < batch; i++) {
    uint64_t base = p + static_cast<uint64_t>(static_cast<int64_t>(i) * stride * 4);
    size_t bytes = (static_cast<size_t>(cols - 1) * ld + rows) * 4;
    char sub[200];
    if (emu_check_range(base, bytes, sub, sizeof sub) != 0) {
      std::snprintf(err, errlen, "%s (%dx%d, ld %d, problem %d): %s", what, rows, cols, ld, i, sub);
      return -1;
    }
  }
  return 0;
}

int emu_sgemm(int transa, int transb, int m, int n, int k, float alpha, uint64_t a, int lda, int64_t strideA,
              uint64_t b, int ldb, int64_t strideB, float beta, uint64_t c, int ldc, int64_t strideC, int batch,
              char* err, int errlen) {
  if (m < 0 || n < 0 || k < 0 || batch < 0) {
    std::snprintf(err, errlen, "negative size m=%d n=%d k=%d batch=%d (CUBLAS_STATUS_INVALID_VALUE)", m, n, k,
                  batch);
    return -1;
  }
  if (m == 0 || n == 0 || batch == 0) return 0;
  int ar = transa ? k : m, ac = transa ? m : k;
  int br = transb ? n : k, bc = transb ? k : n;
  if (k > 0 && alpha != 0.0f) {
    if (check_matrix("A", a, ar, ac, lda, strideA, batch, err, errlen) != 0) return -1;
    if (check_matrix("B", b, br, bc, ldb, strideB, batch, err, errlen) != 0) return -1;
  }
  if (check_matrix("C", c, m, n, ldc, strideC, batch, err, errlen) != 0) return -1;
  for (int p = 0; p < batch; p++) {
    const float* A = reinterpret_cast<const float*>(a) + static_cast<int64_t>(p) * strideA;
    const float* B = reinterpret_cast<const float*>(b) + static_cast<int64_t>(p) * strideB;
    float* C = reinterpret_cast<float*>(c) + static_cast<int64_t>(p) * strideC;
    for (int j = 0; j < n; j++) {
      for (int i = 0; i < m; i++) {
        float s = 0.0f;
        if (alpha != 0.0f) {
          for (int l = 0; l < k; l++) {
            float av = transa ? A[l + static_cast<int64_t>(i) * lda] : A[i + static_cast<int64_t>(l) * lda];
            float bv = transb ? B[j + static_cast<int64_t>(l) * ldb] : B[l + static_cast<int64_t>(j) * ldb];
            s += av * bv;
          }
        }
        float* cij = &C[i + static_cast<int64_t>(j) * ldc];
        *cij = beta == 0.0f ? alpha * s : alpha * s + beta * *cij;
      }
    }
  }
  return 0;
}

}  // extern "C"
