//! `make test` runs every target with [`TEST_INPUTS`] inputs (`make fuzz` runs a million), and
//! the regressions the fuzzer found stay found.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use crate::{Config, TEST_INPUTS, run, table, targets};

fn fuzz(name: &str) {
    let mut target = targets::build(name).unwrap();
    let cfg = Config { inputs: TEST_INPUTS, ..Config::default() };
    let report = run(&mut target, &cfg);
    println!("{}", table(std::slice::from_ref(&report)));
    assert_eq!(report.inputs, TEST_INPUTS);
    assert!(report.clean(), "{}", table(std::slice::from_ref(&report)));
    assert!(report.accepted > 0 && report.refused > 0, "the target must see both valid and refused inputs: {report:?}");
}

#[test]
fn signal_body() {
    fuzz("signal-body");
}
#[test]
fn signal_route() {
    fuzz("signal-route");
}
#[test]
fn telegram_update() {
    fuzz("telegram-update");
}
#[test]
fn callback_data() {
    fuzz("callback-data");
}
#[test]
fn venue_json() {
    fuzz("venue-json");
}
#[test]
fn venue_sse() {
    fuzz("venue-sse");
}
#[test]
fn oracle_pyth() {
    fuzz("oracle-pyth");
}
#[test]
fn oracle_chainlink() {
    fuzz("oracle-chainlink");
}

#[test]
fn every_target_is_built_and_a_run_replays_exactly() {
    for name in targets::NAMES {
        assert!(targets::build(name).is_ok(), "{name}");
    }
    assert!(targets::build("nope").is_err());
    // The same seed and index give the same input: a failure's replay line reproduces it.
    let t = targets::build("signal-body").unwrap();
    let a = t.mutator.generate(&mut crate::rng::Rng::for_input(7, 123));
    let b = t.mutator.generate(&mut crate::rng::Rng::for_input(7, 123));
    assert_eq!(a, b);
}

#[test]
fn a_panic_and_a_violation_are_reported_with_their_input() {
    let mut calls = 0u32;
    let mut target = crate::Target {
        name: "self-test",
        what: "a target that panics on one input and breaks its contract on another",
        mutator: crate::mutate::Mutator::new(vec![b"{}".to_vec()], &[]),
        run: Box::new(move |_| {
            calls += 1;
            match calls {
                3 => panic!("boom"),
                5 => Err("refused without a reason".into()),
                _ => Ok(crate::Verdict::Refused("fine 12 'x'".into())),
            }
        }),
    };
    let r = run(&mut target, &Config { inputs: 10, ..Config::default() });
    assert_eq!((r.panics, r.violations, r.refused), (1, 1, 8));
    assert!(!r.clean());
    assert_eq!(r.failures.len(), 2);
    assert!(r.failures[0].detail.contains("boom"), "{:?}", r.failures);
    assert_eq!(r.failures[0].index, 2);
    let t = table(&[r]);
    assert!(t.contains("replay: vanta-fuzz --target self-test --seed") && t.contains("input (hex): "), "{t}");
    assert_eq!(crate::reason_kind("fine 12 'x'"), "fine # '…'");
}

/// Found by `oracle-pyth`: an exponent near `i32::MAX` overflowed (`expo + 10`), a panic in
/// debug builds and a wrapped exponent in release.
#[test]
fn a_pyth_exponent_at_the_edge_is_refused_not_overflowed() {
    let e = vanta_chain::prices::pyth_to_price("123", i32::MAX).unwrap_err();
    assert!(e.to_string().contains("out of range"), "{e}");
    assert!(vanta_chain::prices::pyth_to_price("123", i32::MIN).is_err());
    assert!(vanta_chain::prices::pyth_to_price("123", i32::MAX - 10).is_err());
}
