#!/usr/bin/env bash
# Builds the grading image's base without an image registry: debootstrap a minimal Debian
# and `docker import` it. Used only when the base tag is absent; on a machine that reaches a
# registry, `docker pull debian:bookworm-slim` and tag it instead.
# Bookworm, not trixie: its Python is 3.11, the version the pinned wheels are built for.
# Usage: docker/build_base_image.sh [TAG]   (env: SUITE, MIRROR)
set -euo pipefail
tag="${1:-grader-base:bookworm}"
suite="${SUITE:-bookworm}"
mirror="${MIRROR:-http://deb.debian.org/debian}"
if docker image inspect "$tag" >/dev/null 2>&1; then
    echo "base image $tag already present"
    exit 0
fi
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
echo "debootstrap $suite from $mirror (a few minutes)" >&2
debootstrap --variant=minbase "$suite" "$root" "$mirror" >/dev/null
tar -C "$root" -c . | docker import - "$tag" >/dev/null
echo "built base image $tag"
