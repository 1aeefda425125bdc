#!/bin/bash
# `make docs` works and changes nothing: every role README's table of
# variables is what its meta/argument_specs.yml says.
set -eu -o pipefail
cd "$(dirname "$0")/../.."
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
for readme in roles/*/README.md; do
    mkdir -p "$copy/$(dirname "${readme#roles/}")"
    cp "$readme" "$copy/${readme#roles/}"
done
make --no-print-directory docs DOCS_DIR="$copy"
stale=0
for readme in roles/*/README.md; do
    if ! diff -u "$readme" "$copy/${readme#roles/}"; then
        stale=1
    fi
done
if [ "$stale" -ne 0 ]; then
    echo "a role README's table of variables is not its argument specs': run make docs" >&2
    exit 1
fi
echo "every role README's table of variables is current"
