# Sourced by the benchmarks: NTR is the binary to measure, the first
# argument if given, else a release build of this tree.
NTR=${1:-}
if [ -z "$NTR" ]; then
    cargo build --release --quiet
    NTR=$PWD/target/release/ntr
fi
