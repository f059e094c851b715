#!/usr/bin/env bash
# The CUDA checks of a machine with an NVIDIA GPU, built where Go is and run
# where the GPU is (which needs no Go, only the driver, cuBLAS and, for the
# side by side, python3 with PyTorch).
#
#   tests/gpu_check.sh build          # here: kernels, the -tags cuda test
#                                     # binaries and emotion, packed into
#                                     # build/gpu.tar.xz
#   tests/gpu_check.sh run [DATA]     # there, in a copy of the repository:
#                                     # every step below, logs under $OUT
#                                     # (or ./gpu-check)
#
# run: the `go test -tags cuda` binaries of every package whose build the
# cuda tag changes (cuda, host, kernels, model, bench, cmd/emotion, tests;
# the others compile to the same code as in the default build, which CI
# tests), `emotion bench train` beside PyTorch + cuDNN for both models, in
# plain stream order (--dependent-launch=false) and with --profile (the
# device time of every kernel of a step),
# `emotion bench kernels` (--shapes full, or the argument sets of KERNELS,
# the first set compared with each later one by `emotion bench compare`),
# training both models on DATA (an IEMOCAP source, optional), and
# compute-sanitizer's memcheck and racecheck over the backend parity tests. Each step has a time limit and the whole run a
# deadline (GPU_CHECK_SECONDS, default 480), so that it fits a lease; the
# summary at the end gives each step's status and time.
#
# A rehearsal without a GPU: GPU_CHECK_TAGS=cudaemu tests/gpu_check.sh build
# builds the same binaries on the emulated device, and run then goes
# through every step here (nvidia-smi, cuBLAS and PyTorch's CUDA are
# missing, so those steps fail), which checks the script before a lease is
# spent on it; KERNELS='--shapes tiny --copy-mib 1 --gemm-n 32 --rotate-mib
# 0' keeps the emulated kernel benchmark short.
set -u

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

build() {
	set -e
	cmake -B build -S . >/dev/null
	cmake --build build
	rm -rf build/gpu && mkdir -p build/gpu
	local pkgs=(./cuda ./host ./kernels ./model ./bench ./cmd/emotion ./tests)
	local tags=${GPU_CHECK_TAGS:-cuda}
	for p in "${pkgs[@]}"; do
		go test -c -tags "$tags" -ldflags='-s -w' -o "build/gpu/$(basename "$p").test" "$p"
	done
	go build -tags "$tags" -ldflags='-s -w' -o build/gpu/emotion.gpu ./cmd/emotion
	go build -ldflags='-s -w' -o build/gpu/emotion.cpu ./cmd/emotion
	tar -C build -cf - gpu | xz -T0 -6 >build/gpu.tar.xz
	ls -l build/gpu.tar.xz
}

# Logs go to $logs, packed into $dest/gpu-check.tgz at the end (with the
# summary and the kernel table beside it).
dest=${OUT:-$here/gpu-check}
out=/tmp/gpu-check-logs
summary=()
deadline=$((SECONDS + ${GPU_CHECK_SECONDS:-480}))

# step NAME LIMIT DIR CMD...: runs CMD in DIR for at most LIMIT seconds (less
# when the deadline is nearer), its output in $out/NAME.log and on stdout.
step() {
	local name=$1 limit=$2 dir=$3
	shift 3
	local left=$((deadline - SECONDS))
	if ((left < 10)); then
		summary+=("$(printf '%-22s skipped (deadline)' "$name")")
		return
	fi
	((limit > left)) && limit=$left
	echo "=== $name (limit ${limit}s): $*"
	local t0=$SECONDS
	(cd "$dir" && timeout -k 5 "$limit" "$@") >"$out/$name.log" 2>&1
	local rc=$?
	local status="ok"
	((rc == 124 || rc == 137)) && status="TIMEOUT"
	((rc != 0 && rc != 124 && rc != 137)) && status="FAIL rc=$rc"
	tail -n "${TAIL:-25}" "$out/$name.log"
	summary+=("$(printf '%-22s %-12s %4ds' "$name" "$status" $((SECONDS - t0)))")
}

run() {
	local data=${1:-} l
	rm -rf "$out" && mkdir -p "$out" "$dest"
	local bin=/tmp/emotion-gpu
	rm -rf "$bin" && mkdir -p "$bin"
	tar -C "$bin" --strip-components=1 -xJf build/gpu.tar.xz || exit 1
	nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv | tee "$out/gpu.txt"
	# cuBLAS: the binaries dlopen libcublas.so.13/.12/.11; find one where the
	# loader's cache does not.
	if ! ldconfig -p | grep -q 'libcublas\.so\.1[123]'; then
		local lib
		lib=$(find /usr/local /opt /usr/lib -name 'libcublas.so.1[123]' 2>/dev/null | head -n 1)
		[ -n "$lib" ] && export LD_LIBRARY_PATH=$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
		echo "cuBLAS: ${lib:-not found}" | tee -a "$out/gpu.txt"
	fi

	TAIL=8 step cuda.test 60 cuda "$bin/cuda.test" -test.v -test.count=1
	TAIL=8 step host.test 90 host "$bin/host.test" -test.v -test.count=1
	TAIL=3 step kernels.test 30 kernels "$bin/kernels.test"
	TAIL=3 step model.test 60 model "$bin/model.test"
	TAIL=3 step bench.test 60 bench "$bin/bench.test"
	TAIL=3 step emotion.test 60 cmd/emotion "$bin/emotion.test"
	TAIL=5 EMOTION_BINARY=$bin/emotion.cpu step tests.test 120 tests "$bin/tests.test" -test.v -test.count=1
	for m in sentence dialog; do
		TAIL=6 step "pytorch_bench.$m" 90 . python3 tests/pytorch_bench.py --emotion "$bin/emotion.gpu" --model "$m" --device cuda
		l=$(grep -h '^ratio' "$out/pytorch_bench.$m.log" 2>/dev/null) && summary+=("  $l")
	done
	# The same training steps in plain stream order: the side by side above
	# launches with programmatic dependent launch (the default on sm_90), so
	# the two give what it is worth end to end.
	for m in sentence dialog; do
		TAIL=4 step "stream_order.$m" 60 . "$bin/emotion.gpu" bench train --model "$m" --device cuda --dependent-launch=false
		l=$(grep -h 'throughput' "$out/stream_order.$m.log" 2>/dev/null) && summary+=("  $l (stream order)")
	done
	# Where each model's training step spends its device time, kernel by
	# kernel (profile.MODEL.log, also copied beside the summary).
	for m in sentence dialog; do
		TAIL=0 step "profile.$m" 60 . "$bin/emotion.gpu" bench train --model "$m" --device cuda --profile
	done
	# KERNELS: ';'-separated argument sets, one bench kernels run each.
	local sets i=0
	IFS=';' read -ra sets <<<"${KERNELS:---shapes full --budget 5ms}"
	for a in "${sets[@]}"; do
		i=$((i + 1))
		# shellcheck disable=SC2086 # each set is split into its arguments
		TAIL=0 step "bench_kernels.$i" 360 . "$bin/emotion.gpu" bench kernels --device cuda $a --json-out "$out/bench_kernels.$i.json"
		# The kernel target's verdict goes into the summary.
		if [ -f "$out/bench_kernels.$i.log" ]; then
			while IFS= read -r l; do summary+=("  $l"); done < <(sed -n '/^target:/,$p' "$out/bench_kernels.$i.log")
		fi
	done
	# Set 1 against each later set, case by case (the cases both timed):
	# make set 1 the "before", e.g. --dependent-launch=false.
	local j
	for ((j = 2; j <= i; j++)); do
		if [ -f "$out/bench_kernels.1.json" ] && [ -f "$out/bench_kernels.$j.json" ]; then
			TAIL=40 step "compare.1-$j" 10 . "$bin/emotion.gpu" bench compare "$out/bench_kernels.1.json" "$out/bench_kernels.$j.json"
			l=$(grep -h 'cases in both' "$out/compare.1-$j.log") && summary+=("  $l")
		fi
	done
	if [ -n "$data" ]; then
		for m in sentence dialog; do
			TAIL=6 step "train.$m" 90 . "$bin/emotion.gpu" train --data "$data" --model "$m" --device cuda --out "/tmp/runs/$m"
		done
	fi
	if command -v compute-sanitizer >/dev/null; then
		TAIL=4 step memcheck 60 host compute-sanitizer --tool memcheck --error-exitcode 3 "$bin/host.test" -test.run 'Parity' -test.count=1
		TAIL=4 step racecheck 60 host compute-sanitizer --tool racecheck --error-exitcode 3 "$bin/host.test" -test.run 'Parity' -test.count=1
	fi
	echo "=== summary"
	printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
	tar -C "$out" -czf "$dest/gpu-check.tgz" .
	cp "$out/summary.txt" "$dest/"
	cp "$out"/bench_kernels.*.log "$out"/profile.*.log "$dest/" 2>/dev/null
}

case ${1:-} in
build) build ;;
run) run "${2:-}" ;;
*)
	echo "usage: $0 build | run [DATA]" >&2
	exit 2
	;;
esac
