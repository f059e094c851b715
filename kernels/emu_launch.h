// emu_launch.h: turning a kernel function of the cudaemu build into a
// launcher that takes its arguments as emu_arg values, checking their number
// and kinds and turning device addresses into bounds-checked pointers.
#ifndef EMOTION_EMU_LAUNCH_H
#define EMOTION_EMU_LAUNCH_H

#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

#include "cudaemu.h"
#include "emu_api.h"

namespace emu {

// ArgError is a kernel argument that does not fit the kernel's parameter.
struct ArgError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Span is the allocation that holds a device address.
struct Span {
  const char* lo;
  const char* hi;
};

// find_allocation returns the allocation holding address p; false if p is
// not device memory.
bool find_allocation(uint64_t p, Span* out);

// Body is a fiber's work: fn(arg) once per CUDA thread.
struct Body {
  void (*fn)(void*);
  void* arg;
};

// run_grid runs body once per thread of the grid; false (with err filled)
// if a thread failed or the threads did not meet at their barriers.
bool run_grid(const unsigned grid[3], const unsigned block[3], Body body, char* err, int errlen);

std::string kind_name(int kind);

template <class T>
struct Conv;

template <>
struct Conv<int> {
  static int get(const emu_arg& a, int i) {
    if (a.kind != EMU_ARG_I32) throw ArgError("argument " + std::to_string(i) + ": kernel wants int, got " + kind_name(a.kind));
    return static_cast<int>(static_cast<int32_t>(a.bits));
  }
};

template <>
struct Conv<unsigned> {
  static unsigned get(const emu_arg& a, int i) {
    if (a.kind != EMU_ARG_I32) throw ArgError("argument " + std::to_string(i) + ": kernel wants unsigned, got " + kind_name(a.kind));
    return static_cast<unsigned>(a.bits);
  }
};

template <>
struct Conv<unsigned long long> {
  static unsigned long long get(const emu_arg& a, int i) {
    if (a.kind != EMU_ARG_U64)
      throw ArgError("argument " + std::to_string(i) + ": kernel wants unsigned long long, got " + kind_name(a.kind));
    return a.bits;
  }
};

template <>
struct Conv<float> {
  static float get(const emu_arg& a, int i) {
    if (a.kind != EMU_ARG_F32) throw ArgError("argument " + std::to_string(i) + ": kernel wants float, got " + kind_name(a.kind));
    return from_bits<float>(a.bits);
  }
};

template <class T>
struct Conv<dptr<T>> {
  static dptr<T> get(const emu_arg& a, int i) {
    if (a.kind != EMU_ARG_PTR) throw ArgError("argument " + std::to_string(i) + ": kernel wants a pointer, got " + kind_name(a.kind));
    if (a.bits == 0) return dptr<T>(nullptr);
    Span s;
    if (!find_allocation(a.bits, &s)) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "argument %d: 0x%llx is not device memory (freed?)", i,
                    static_cast<unsigned long long>(a.bits));
      throw ArgError(buf);
    }
    return dptr<T>(reinterpret_cast<T*>(a.bits), s.lo, s.hi);
  }
};

template <class... A, size_t... I>
std::tuple<std::decay_t<A>...> convert_args(const emu_arg* args, std::index_sequence<I...>) {
  return std::tuple<std::decay_t<A>...>{Conv<std::decay_t<A>>::get(args[I], static_cast<int>(I))...};
}

// launch converts args for kernel k and runs it over the grid.
template <class... A>
bool launch(void (*k)(A...), const unsigned grid[3], const unsigned block[3], const emu_arg* args, int nargs,
            char* err, int errlen) {
  if (nargs != static_cast<int>(sizeof...(A))) {
    std::snprintf(err, errlen, "kernel takes %zu arguments, got %d", sizeof...(A), nargs);
    return false;
  }
  using Tuple = std::tuple<std::decay_t<A>...>;
  struct Closure {
    void (*k)(A...);
    Tuple* t;
  };
  try {
    Tuple t = convert_args<A...>(args, std::index_sequence_for<A...>{});
    Closure c{k, &t};
    Body body{[](void* p) {
                auto* c = static_cast<Closure*>(p);
                std::apply(c->k, *c->t);
              },
              &c};
    return run_grid(grid, block, body, err, errlen);
  } catch (const std::exception& e) {
    std::snprintf(err, errlen, "%s", e.what());
    return false;
  }
}

// Kernel is one entry of the registry of kernels known by name.
struct Kernel {
  const char* name;
  bool (*launch)(const unsigned grid[3], const unsigned block[3], const emu_arg* args, int nargs, char* err,
                 int errlen);
};

// kernels and num_kernels are the registry (emu_kernels.cc).
extern const Kernel kernels[];
extern const int num_kernels;

}  // namespace emu

// EMU_KERNEL makes a registry entry for kernel function f.
#define EMU_KERNEL(f)                                                                                      \
  {                                                                                                        \
#f, [](const unsigned g[3], const unsigned b[3], const emu_arg* a, int n, char* e, int el) { \
      return emu::launch(f, g, b, a, n, e, el);                                                            \
    }                                                                                                      \
  }

#endif  // EMOTION_EMU_LAUNCH_H
