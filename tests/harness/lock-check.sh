#!/bin/bash
# `make lock` works and changes nothing: requirements.lock is what
# requirements.txt resolves to (the versions already locked are kept, so
# this fails only when requirements.txt changed without a new lock).
set -eu -o pipefail
cd "$(dirname "$0")/../.."
copy=$(mktemp)
trap 'rm -f "$copy"' EXIT
cp requirements.lock "$copy"
make --no-print-directory lock LOCK="$copy"
if ! diff -u requirements.lock "$copy"; then
    echo "requirements.lock is not what requirements.txt resolves to: run make lock" >&2
    exit 1
fi
echo "requirements.lock is current"
