//! Micro-benchmarks live in `benches/benches/` (`cargo bench -p fjord-benches`); the side-by-side
//! broker comparison is `benches/compare.sh` (`make bench`). This library is empty.
