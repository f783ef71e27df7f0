#!/usr/bin/env bash
# Guards the schemas: `buf lint` (the project's rules, proto/buf.yaml) and `buf breaking` against
# the released schema kept in the repository as a descriptor image (proto/released.binpb), so a
# released event or API never changes meaning: fields are only added. Run by deploy/local/test.sh.
#
#   proto/check.sh              lint + breaking-change check
#   proto/check.sh --release    write the current schema as the released one (after a release)
set -euo pipefail

proto_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
buf="$("$proto_dir/../deploy/local/install-buf.sh")"
cd "$proto_dir"

if [[ "${1:-}" == "--release" ]]; then
    "$buf" build --output released.binpb
    echo "proto: wrote released.binpb ($(wc -c <released.binpb) bytes)"
    exit 0
fi
"$buf" lint
"$buf" breaking --against released.binpb
echo "proto: lint clean, nothing breaks the released schema"
