#!/usr/bin/env bash
# Installs everything srcfib needs on a fresh Debian 12 machine and builds it.
# Idempotent: a second run only re-checks and rebuilds.  Run as root (or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(
  # native build
  build-essential pkg-config python3 make g++ libdpdk-dev libnuma-dev libpcap-dev
  # C tests (valgrind as the second checker beside ASan; clang and its runtimes for the libFuzzer targets)
  valgrind clang-14 libclang-rt-14-dev
  # network tests and peers used by the integration suites
  iproute2 iputils-ping ethtool procps python3-scapy tshark
  # API tests: an independent Python gRPC client (stubs compiled by grpc_tools), TLS certificates
  python3-grpcio python3-grpc-tools openssl
)

need_apt=0
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || { need_apt=1; break; }
done
if [ "$need_apt" = 1 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "setup: installing Debian packages: ${DEB_PACKAGES[*]}"
  $SUDO apt-get update -q
  # tshark asks whether non-root users may capture; answer no without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${DEB_PACKAGES[@]}"
fi

pkg-config --exists libdpdk || { echo "setup: libdpdk not found by pkg-config after install (apt-get install libdpdk-dev)" >&2; exit 1; }

# Node's headers ship with Debian/NodeSource Node in /usr/include/node; point
# node-gyp at them so that the build needs no download.
if [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr; fi

# `npm install` with the committed lock file installs exactly the locked versions. (`npm ci`
# refuses this npm's lock files: they record only this platform's optional packages, e.g.
# rollup's native binary, and npm ci wants every platform's.)
echo "setup: npm install (locked versions)"
npm install --no-audit --no-fund

echo "setup: native build (addon, C tests, benchmark binaries)"
npx node-gyp rebuild
make -C native -j"$(nproc)"

echo "setup: TypeScript build"
npm run build:ts
echo "setup: done"
