//! End-to-end tests of `vitrine serve`.
use crate::support::*;

#[test]
fn placeholder_harness_starts() {
    let redis = Redis::start();
    assert!(redis.command(&["PING"]).unwrap().contains("PONG"));
}
