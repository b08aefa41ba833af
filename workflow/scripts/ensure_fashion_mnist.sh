#!/usr/bin/env bash
# Demo set-up: make Fashion-MNIST available offline when possible. On Debian, as root, the files
# come from the package dataset-fashion-mnist; otherwise the fetch rule tries its download URLs and,
# failing that, says exactly what to do.
set -euo pipefail
dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/train-images-idx3-ubyte.gz" ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian package dataset-fashion-mnist (Fashion-MNIST, ~31 MB)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null \
        || echo "note: apt-get install dataset-fashion-mnist failed; the fetch rule will try the URLs"
else
    echo "note: $dir not found and not root on Debian: the fetch rule will download Fashion-MNIST" \
         "(needs network; or run 'sudo apt-get install dataset-fashion-mnist', or put the four" \
         ".gz files in data/manual/fashion_mnist/)"
fi
