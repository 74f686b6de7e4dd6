#!/bin/sh
# Static thresholds on the malloc counts of Reel's hot-path benchmarks, kept per toolchain in
# Thresholds/swift-<version>/ (see README.md, "Thresholds").
#
#   ./thresholds.sh check     run the hot-path benchmarks and check their malloc counts against the thresholds
#   ./thresholds.sh update    run them and write new thresholds for this toolchain (commit the files)
#   ./thresholds.sh read      print the thresholds of this toolchain
#
# Further options go to `swift package benchmark`, e.g. `./thresholds.sh check --target QueryBenchmarks`.
set -eu
cd "$(dirname "$0")"
operation=${1:?usage: ./thresholds.sh check|update|read [benchmark options]}
shift
version=$(swift --version 2>&1 | sed -n 's/.*Swift version \([0-9][0-9.]*\).*/\1/p' | head -n 1)
[ -n "$version" ] || { echo "thresholds.sh: cannot tell the Swift version from 'swift --version'" >&2; exit 1; }
path="Thresholds/swift-$version"
# The hot-path benchmarks: every name without a space. (package-benchmark writes a threshold file with the name's
# spaces turned into '_' but looks it up by the name as it is, so only names without spaces can have thresholds.)
filter='(Append|GroupCommit|Decode|Parse|Rebuild|Query)\..*'
case $operation in
update)
    mkdir -p "$path"
    exec swift package --allow-writing-to-package-directory benchmark thresholds update \
        --path "$path" --metric mallocCountTotal --filter "$filter" "$@"
    ;;
check)
    [ -d "$path" ] || { echo "thresholds.sh: no thresholds for Swift $version in $path; run ./thresholds.sh update" >&2; exit 1; }
    exec swift package benchmark thresholds check --path "$path" --metric mallocCountTotal --filter "$filter" "$@"
    ;;
read)
    exec swift package benchmark thresholds read --path "$path" --filter "$filter" "$@"
    ;;
*)
    echo "usage: ./thresholds.sh check|update|read [benchmark options]" >&2
    exit 2
    ;;
esac
