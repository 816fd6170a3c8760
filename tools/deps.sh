#!/bin/sh
# deps.sh -- installs the Debian packages modelc needs that are missing,
# saying what it installs. Uses sudo when not root.
set -e
# clang-19 and libclang-rt-19-dev build the libFuzzer targets (make fuzz).
# libzstd-dev: LLVM's static libraries (linked by default) need zstd, and
# its CMake package finds it only through the -dev package.
PKGS="cmake make gcc clang-19 libclang-rt-19-dev flex bison llvm-19-dev libzstd-dev llvm-19-tools libcunit1-dev zlib1g-dev graphviz python3 dataset-fashion-mnist python3-numpy python3-torch libedit-dev bible-kjv wordnet-base libopenblas0-openmp openmpi-bin libopenmpi-dev"
missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
if [ -z "$missing" ]; then
  echo "deps: all Debian packages present"
  exit 0
fi
echo "deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
