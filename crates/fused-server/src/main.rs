//! The standalone `fused-server` binary (being written).

fn main() {}
