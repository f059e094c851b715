#!/usr/bin/env bash
# CI for the CUDA paths, on a machine without a GPU (called by .ci/run):
#   1. installs cmake and Debian's nvidia-cuda-toolkit (CUDA 11.8, component
#      non-free) unless nvcc and cmake are there already;
#   2. builds the kernels into cuda/kernels.fatbin with CMake;
#   3. vets and builds everything with -tags cuda, and builds the GPU test
#      binaries (they cannot run here: gorgonia.org/cu's init exits without
#      a GPU);
#   4. vets and runs every test with -tags cudaemu (the emulated device).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin

install_toolkit() {
  if command -v nvcc >/dev/null && command -v cmake >/dev/null; then
    return
  fi
  local src=/etc/apt/sources.list.d/emotion-cuda.sources
  if [ ! -f "$src" ]; then
    # The same Debian mirror and suites as the machine's own sources, with
    # the components that hold the toolkit.
    local uri suites key
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
      suites=$(awk '/^Suites:/ {$1 = ""; sub(/^ /, ""); print; exit}' /etc/apt/sources.list.d/debian.sources)
      key=$(awk '/^Signed-By:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    else
      uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
      suites=$(. /etc/os-release && echo "$VERSION_CODENAME $VERSION_CODENAME-updates")
      key=/usr/share/keyrings/debian-archive-keyring.gpg
    fi
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: contrib non-free\nSigned-By: %s\n' \
      "$uri" "$suites" "$key" >"$src"
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends cmake nvidia-cuda-toolkit >/dev/null
}

install_toolkit
nvcc --version | tail -1

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build

go vet -tags cuda ./...
go build -tags cuda ./...
for pkg in ./host ./cuda; do
  go test -c -tags cuda -o "build/$(basename "$pkg").gpu.test" "$pkg"
done

go vet -tags cudaemu ./...
go test -tags cudaemu ./...
go test -race -tags cudaemu ./host/
