//! Property-based robustness (a stable-toolchain stand-in for cargo-fuzz):
//! * arbitrary lines, raw bytes or stratum-shaped JSON with arbitrary params, sent to a live
//!   server never panic a session and never stop the server answering a control client;
//! * arbitrary [`Submit`]s and sessions through [`shares::validate`] never panic, and an
//!   accepted share really meets the session target.
//!
//! Case counts are bounded for a 2-core CI.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use crate::common::{error_code, push_job, regtest_address, template, Server};
use bitcoin::hashes::Hash;
use proptest::prelude::*;
use proxy::budget::CoinbaseBudget;
use proxy::coinbase::{CoinbaseConfig, CoinbaseParts};
use proxy::downstream::ServerConfig;
use proxy::jobs::JobBook;
use proxy::payouts::{PayoutConfig, PplnsWindow};
use proxy::shares::{self, Session};
use serde_json::{json, Value};
use stratum::ShareTarget;
use stratum::Submit;

/// Panics anywhere in the process (server session tasks included) since the hook went in.
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

const METHODS: &[&str] = &[
    "mining.subscribe",
    "mining.authorize",
    "mining.configure",
    "mining.suggest_difficulty",
    "mining.extranonce.subscribe",
    "mining.submit",
    "mining.notify",
    "client.reconnect",
    "bogus",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u32>().prop_map(|n| Value::from(format!("{n:08x}"))),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[0-9a-f]{0,20}".prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One line (without its newline).
fn line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Raw bytes, newlines excluded so a case is one line; up to past the line limit.
        prop::collection::vec(
            any::<u8>().prop_filter("no newline", |b| *b != b'\n'),
            0..1400
        ),
        // Stratum-shaped requests with arbitrary ids and params.
        (
            json_value(),
            prop::sample::select(METHODS),
            prop::collection::vec(json_value(), 0..7)
        )
            .prop_map(|(id, method, params)| {
                json!({"id": id, "method": method, "params": params})
                    .to_string()
                    .into_bytes()
            }),
        // Submits close to valid: for the live job, a real worker, hex fields of any size.
        (
            prop::sample::select(vec!["0", "1", "ffff", ""]),
            "[0-9a-f]{0,12}",
            "[0-9a-fA-Fxz]{0,10}",
            "[0-9a-f]{0,10}",
            prop::option::of("[0-9a-f]{0,10}"),
        )
            .prop_map(|(job, en2, ntime, nonce, bits)| {
                let mut params = vec![
                    json!(format!("{}.rig", regtest_address(9))),
                    json!(job),
                    json!(en2),
                    json!(ntime),
                    json!(nonce),
                ];
                if let Some(bits) = bits {
                    params.push(json!(bits));
                }
                json!({"id": 7, "method": "mining.submit", "params": params})
                    .to_string()
                    .into_bytes()
            }),
    ]
}

#[test]
fn arbitrary_lines_never_take_the_server_down() {
    count_panics();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (server, control) = rt.block_on(async {
        let server = Server::start(ServerConfig {
            max_line_len: 1024,
            // Every case may be all invalid lines: keep the fuzzing IP unbanned.
            ban_after_invalid: u32::MAX,
            ..ServerConfig::default()
        })
        .await;
        push_job(&server.pool, 1);
        let mut control = server.client_from(8).await;
        control.subscribe().await;
        (server, tokio::sync::Mutex::new(control))
    });
    let worker = format!("{}.rig", regtest_address(9));

    let config = ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        handshake in any::<bool>(),
        lines in prop::collection::vec(line(), 1..8),
    )| {
        rt.block_on(async {
            let mut fuzz = server.client_from(7).await;
            if handshake {
                fuzz.subscribe().await;
                fuzz.call("mining.suggest_difficulty", json!([1e-9])).await;
                fuzz.call("mining.authorize", json!([worker, "x"])).await;
            }
            let mut bytes = Vec::new();
            for l in &lines {
                bytes.extend_from_slice(l);
                bytes.push(b'\n');
            }
            // The server may close on an oversized line before reading it all.
            let _ = fuzz.send_raw(&bytes).await;
            // Let the session process what it read, then hang up.
            let _ = fuzz.closed_within(Duration::from_millis(20)).await;
            drop(fuzz);
            let r = control
                .lock()
                .await
                .call("mining.suggest_difficulty", json!([0.5]))
                .await
                .expect("control client still served");
            assert_eq!(error_code(&r), None, "{r}");
        });
        prop_assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a session panicked");
    });
    rt.block_on(async {
        // A brand-new miner still gets through the whole handshake.
        let mut late = server.client().await;
        late.subscribe().await;
        let r = late
            .call("mining.authorize", json!([worker, "x"]))
            .await
            .unwrap();
        assert_eq!(r["result"], json!(true));
        server.stop().await;
    });
    assert_eq!(PANICS.load(Ordering::SeqCst), 0);
}

fn submit_strategy(job_id: String, curtime: u32) -> impl Strategy<Value = Submit> {
    (
        prop::sample::select(vec!["w", "w.rig", "", "other"]),
        prop_oneof![3 => Just(job_id), 1 => ".{0,8}"],
        prop_oneof![
            3 => prop::collection::vec(any::<u8>(), 4..=4),
            1 => prop::collection::vec(any::<u8>(), 0..12)
        ],
        prop_oneof![1 => any::<u32>(), 3 => curtime - 1000..curtime + 8000],
        any::<u32>(),
        prop::option::of(prop_oneof![
            any::<u32>(),
            any::<u32>().prop_map(|b| b & 0x1fff_e000)
        ]),
    )
        .prop_map(
            |(worker, job_id, extranonce2, ntime, nonce, version_bits)| Submit {
                worker: worker.into(),
                job_id,
                extranonce2,
                ntime,
                nonce,
                version_bits,
            },
        )
}

fn session_strategy() -> impl Strategy<Value = Session> {
    (
        prop_oneof![
            3 => Just(Some(vec![1, 2, 3, 4])),
            1 => prop::option::of(prop::collection::vec(any::<u8>(), 0..9))
        ],
        prop_oneof![3 => Just(4usize), 1 => 0usize..12],
        prop_oneof![
            2 => Just(vec!["w", "w.rig", ""]),
            1 => prop::sample::subsequence(vec!["w", "w.rig", ""], 0..=3)
        ],
        any::<u32>(),
        prop_oneof![
            1 => any::<f64>(),
            1 => (-40i32..40).prop_map(|e| 2f64.powi(e)),
            3 => (-40i32..-20).prop_map(|e| 2f64.powi(e)),
            1 => Just(1e-12)
        ],
    )
        .prop_filter_map(
            "difficulty without a target",
            |(extranonce1, extranonce2_size, authorized, version_mask, difficulty)| {
                Some(Session {
                    extranonce1,
                    extranonce2_size,
                    authorized: authorized.into_iter().map(String::from).collect(),
                    version_mask,
                    target: ShareTarget::from_difficulty(difficulty).ok()?,
                    job_targets: Default::default(),
                })
            },
        )
}

#[test]
fn arbitrary_submits_never_panic_validate() {
    let t = Arc::new(template(1));
    let payouts = PayoutConfig::new(bitcoin::ScriptBuf::new_op_return([1u8; 4]));
    let budget = CoinbaseBudget::new(
        &t,
        &CoinbaseConfig::default(),
        stratum::DEFAULT_MAX_LINE_LEN,
    )
    .unwrap();
    let outputs = PplnsWindow::from_config(&payouts)
        .outputs(t.coinbasevalue, &payouts, &budget)
        .unwrap();
    let coinbase = CoinbaseParts::build(
        &CoinbaseConfig::default(),
        t.height,
        t.coinbasevalue,
        outputs,
        None,
    )
    .unwrap();
    let mut book = JobBook::default();
    let job = book.push(Arc::clone(&t), coinbase);

    let config = ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        session in session_strategy(),
        submit in submit_strategy(job.id().to_owned(), t.curtime),
    )| {
        match shares::validate(&book, &session, &submit) {
            Ok(share) => {
                prop_assert!(session.target.is_met_by(share.hash.as_byte_array()));
                prop_assert!(session.authorized.contains(&submit.worker));
                // Accepted once: the same share again is a duplicate.
                prop_assert_eq!(
                    shares::validate(&book, &session, &submit).unwrap_err(),
                    shares::ShareError::Duplicate
                );
            }
            Err(e) => {
                let code = e.code().code();
                prop_assert!((20..=25).contains(&code), "code {}", code);
                prop_assert!(!e.to_string().is_empty());
            }
        }
    });
}
