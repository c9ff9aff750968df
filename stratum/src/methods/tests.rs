//! Unit tests of the typed methods: real-world-looking lines, round trips, and every error path.

use super::*;
use crate::error::ErrorCode;
use crate::message::{Message, Response};
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::{Network, Transaction, Txid};
use serde_json::json;

fn notification(line: &str) -> Notification {
    match Message::from_line(line).unwrap() {
        Message::Notification(n) => n,
        other => panic!("not a notification: {other:?}"),
    }
}

fn request(line: &str) -> Request {
    match Message::from_line(line).unwrap() {
        Message::Request(r) => r,
        other => panic!("not a request: {other:?}"),
    }
}

/// The classic mining.notify example of the stratum v1 documentation (a 2012 testnet job).
const CLASSIC_NOTIFY: &str = concat!(
    r#"{"id":null,"method":"mining.notify","params":["bf","#,
    r#""4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000","#,
    r#""01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20020862062f503253482f04b8864e5008","#,
    r#""072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000","#,
    r#"[],"00000002","1c2ac4af","504e86b9",false]}"#
);

#[test]
fn classic_notify_parses_with_documented_byte_orders() {
    let n = notification(CLASSIC_NOTIFY);
    let ServerMessage::Notify(job) = ServerMessage::from_notification(&n).unwrap() else {
        panic!("not a notify");
    };
    assert_eq!(job.job_id, "bf");
    assert_eq!(
        job.prevhash.to_string(),
        "00000000440b921e1b77c6c0487ae5616de67f788f44ae2a5af6e2194d16b6f8"
    );
    assert_eq!(job.version, Version::from_consensus(2));
    assert_eq!(job.nbits, CompactTarget::from_consensus(0x1c2a_c4af));
    assert_eq!(job.ntime, 0x504e_86b9);
    assert!(!job.clean_jobs);
    assert!(job.merkle_branch.is_empty());

    // coinb1 ‖ 8 extranonce bytes ‖ coinb2 is a whole coinbase transaction paying 50 BTC,
    // which confirms coinb1/coinb2 are raw bytes in serialization order.
    let coinbase = job.coinbase(&[0, 0, 0, 1], &[0, 0, 0, 2]);
    let tx: Transaction = deserialize(&coinbase).unwrap();
    assert!(tx.is_coinbase());
    assert_eq!(tx.output[0].value.to_sat(), 5_000_000_000);
    assert_eq!(tx.input[0].script_sig.len(), 0x20);
    // BIP34 height push: 2 bytes, little-endian.
    assert_eq!(&tx.input[0].script_sig.as_bytes()[..3], &[0x02, 0x08, 0x62]);

    // Serializing the typed job gives back the same line, byte for byte.
    let back = Message::from(ServerMessage::Notify(job).into_notification()).to_line();
    assert_eq!(back, CLASSIC_NOTIFY);
}

#[test]
fn genesis_block_through_notify_and_submit() {
    // Cut the genesis coinbase into coinb1 / extranonce1 / extranonce2 / coinb2 as a pool would,
    // then rebuild the header from the wire forms: its hash must be the genesis hash.
    let genesis = bitcoin::constants::genesis_block(Network::Bitcoin);
    let coinbase = serialize(&genesis.txdata[0]);
    let job = Notify {
        job_id: "1".into(),
        prevhash: genesis.header.prev_blockhash,
        coinb1: coinbase[..50].to_vec(),
        coinb2: coinbase[58..].to_vec(),
        merkle_branch: vec![],
        version: genesis.header.version,
        nbits: genesis.header.bits,
        ntime: genesis.header.time,
        clean_jobs: true,
    };
    let line = Message::from(ServerMessage::Notify(job.clone()).into_notification()).to_line();
    let ServerMessage::Notify(parsed) =
        ServerMessage::from_notification(&notification(&line)).unwrap()
    else {
        panic!()
    };
    assert_eq!(parsed, job);

    let submit = ClientRequest::Submit(Submit {
        worker: "w".into(),
        job_id: "1".into(),
        extranonce2: coinbase[54..58].to_vec(),
        ntime: genesis.header.time,
        nonce: genesis.header.nonce,
        version_bits: None,
    });
    let line = Message::from(submit.into_request(Id::Num(4))).to_line();
    assert!(line.contains(r#""495fab29","7c2bac1d"]"#), "{line}");
    let ClientRequest::Submit(share) = ClientRequest::from_request(&request(&line)).unwrap() else {
        panic!()
    };

    let cb = parsed.coinbase(&coinbase[50..54], &share.extranonce2);
    assert_eq!(cb, coinbase);
    let root = parsed.merkle_root(&cb);
    assert_eq!(root, genesis.header.merkle_root);
    let header = parsed.header(
        root,
        share.header_version(parsed.version, 0),
        share.ntime,
        share.nonce,
    );
    assert_eq!(header.block_hash(), genesis.block_hash());
}

#[test]
fn merkle_branch_folds_like_the_block_merkle_root() {
    let coinbase = b"not really a coinbase".to_vec();
    let txids: Vec<Txid> = [&coinbase[..], b"tx one", b"tx two"]
        .iter()
        .map(|b| Txid::from_raw_hash(sha256d::Hash::hash(b)))
        .collect();
    let t2 = txids[2].to_byte_array();
    let mut pair = [0u8; 64];
    pair[..32].copy_from_slice(&t2);
    pair[32..].copy_from_slice(&t2);
    let job = Notify {
        job_id: "x".into(),
        prevhash: BlockHash::all_zeros(),
        coinb1: vec![],
        coinb2: vec![],
        merkle_branch: vec![
            txids[1].to_byte_array(),
            sha256d::Hash::hash(&pair).to_byte_array(),
        ],
        version: Version::TWO,
        nbits: CompactTarget::from_consensus(0x207f_ffff),
        ntime: 0,
        clean_jobs: false,
    };
    let expected = bitcoin::merkle_tree::calculate_root(txids.into_iter()).unwrap();
    assert_eq!(
        job.merkle_root(&coinbase).to_byte_array(),
        expected.to_byte_array()
    );
}

#[test]
fn subscribe_round_trip() {
    let line = r#"{"id":1,"method":"mining.subscribe","params":["bfgminer/5.5.0","08000002"]}"#;
    let req = ClientRequest::from_request(&request(line)).unwrap();
    assert_eq!(
        req,
        ClientRequest::Subscribe(Subscribe {
            user_agent: Some("bfgminer/5.5.0".into()),
            session_id: Some("08000002".into()),
        })
    );
    assert_eq!(Message::from(req.into_request(Id::Num(1))).to_line(), line);

    let empty = ClientRequest::parse(names::SUBSCRIBE, &[]).unwrap();
    assert_eq!(empty, ClientRequest::Subscribe(Subscribe::default()));
    // Extra host/port params are tolerated.
    assert!(ClientRequest::parse(
        names::SUBSCRIBE,
        &[
            json!("agent"),
            json!(null),
            json!("pool.example"),
            json!(3333)
        ]
    )
    .is_ok());

    let result = r#"{"id":1,"result":[[["mining.set_difficulty","b4b6693b72a50c7116db18d6497cac52"],["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f"]],"08000002",4],"error":null}"#;
    let Message::Response(resp) = Message::from_line(result).unwrap() else {
        panic!()
    };
    let sub = SubscribeResult::from_value(&resp.result).unwrap();
    assert_eq!(sub.extranonce1, vec![0x08, 0, 0, 2]);
    assert_eq!(sub.extranonce2_size, 4);
    assert_eq!(sub.subscriptions.len(), 2);
    assert_eq!(sub.subscriptions[1].0, "mining.notify");
    assert_eq!(
        Message::from(Response::ok(Id::Num(1), sub.to_value())).to_line(),
        result
    );

    // A single pair and null details are accepted too.
    let single = json!([["mining.notify", "ae68"], "", 8]);
    let sub = SubscribeResult::from_value(&single).unwrap();
    assert_eq!(
        sub.subscriptions,
        vec![("mining.notify".into(), "ae68".into())]
    );
    assert!(sub.extranonce1.is_empty());
    assert!(SubscribeResult::from_value(&json!([null, "00", 4])).is_ok());
    assert!(SubscribeResult::from_value(&json!([null, "0", 4])).is_err());
    assert!(SubscribeResult::from_value(&json!([null, "00", -1])).is_err());
    assert!(SubscribeResult::from_value(&json!([null, "00"])).is_err());
    assert!(SubscribeResult::from_value(&json!({"a": 1})).is_err());
    assert!(SubscribeResult::from_value(&json!([[1, 2], "00", 4])).is_err());
}

#[test]
fn authorize_and_boolean_results() {
    let line = r#"{"id":2,"method":"mining.authorize","params":["slush.miner1","password"]}"#;
    let req = ClientRequest::from_request(&request(line)).unwrap();
    assert_eq!(
        req,
        ClientRequest::Authorize(Authorize {
            username: "slush.miner1".into(),
            password: Some("password".into()),
        })
    );
    assert_eq!(Message::from(req.into_request(Id::Num(2))).to_line(), line);
    let no_pw = ClientRequest::parse(names::AUTHORIZE, &[json!("w")]).unwrap();
    assert_eq!(no_pw.to_params(), vec![json!("w")]);
    assert!(matches!(
        ClientRequest::parse(names::AUTHORIZE, &[]),
        Err(ParseError::Arity { got: 0, .. })
    ));
    assert!(matches!(
        ClientRequest::parse(names::AUTHORIZE, &[json!(1)]),
        Err(ParseError::Type {
            field: "username",
            ..
        })
    ));

    let Message::Response(r) =
        Message::from_line(r#"{"id":2,"result":true,"error":null}"#).unwrap()
    else {
        panic!()
    };
    assert!(r.bool_result().unwrap());
}

#[test]
fn submit_five_and_six_params() {
    let line = r#"{"id":4,"method":"mining.submit","params":["slush.miner1","bf","00000001","504e86ed","b2957c02"]}"#;
    let ClientRequest::Submit(s) = ClientRequest::from_request(&request(line)).unwrap() else {
        panic!()
    };
    assert_eq!(s.extranonce2, vec![0, 0, 0, 1]);
    assert_eq!(s.ntime, 0x504e_86ed);
    assert_eq!(s.nonce, 0xb295_7c02);
    assert_eq!(s.version_bits, None);
    assert!(s.check_extranonce2_size(4).is_ok());
    assert!(matches!(
        s.check_extranonce2_size(8),
        Err(ParseError::HexLength {
            expected: 16,
            got: 8,
            ..
        })
    ));
    assert_eq!(
        Message::from(ClientRequest::Submit(s).into_request(Id::Num(4))).to_line(),
        line
    );

    let line = r#"{"id":5,"method":"mining.submit","params":["w","bf","00000001","504e86ed","b2957c02","00a0e000"]}"#;
    let ClientRequest::Submit(s) = ClientRequest::from_request(&request(line)).unwrap() else {
        panic!()
    };
    assert_eq!(s.version_bits, Some(0x00a0_e000));
    let v = s.header_version(Version::from_consensus(0x2000_0000), 0x1fff_e000);
    assert_eq!(v.to_consensus(), 0x20a0_e000);
    assert_eq!(
        Message::from(ClientRequest::Submit(s).into_request(Id::Num(5))).to_line(),
        line
    );
}

#[test]
fn submit_errors_name_the_field() {
    let ok = [
        json!("w"),
        json!("j"),
        json!("00000001"),
        json!("504e86ed"),
        json!("b2957c02"),
    ];
    let with = |i: usize, v: Value| {
        let mut p = ok.to_vec();
        p[i] = v;
        ClientRequest::parse(names::SUBMIT, &p)
    };
    assert!(matches!(
        with(2, json!("0001x")),
        Err(ParseError::Hex {
            field: "extranonce2",
            ..
        })
    ));
    assert!(matches!(
        with(3, json!("504e86")),
        Err(ParseError::HexLength { field: "ntime", .. })
    ));
    assert!(matches!(
        with(4, json!("b2957c0g")),
        Err(ParseError::Hex { field: "nonce", .. })
    ));
    assert!(matches!(
        with(4, json!(12345)),
        Err(ParseError::Type { field: "nonce", .. })
    ));
    assert!(matches!(
        ClientRequest::parse(names::SUBMIT, &ok[..4]),
        Err(ParseError::Arity {
            expected: "5 or 6",
            got: 4,
            ..
        })
    ));
    let mut seven = ok.to_vec();
    seven.push(json!("00000000"));
    seven.push(json!("x"));
    assert!(matches!(
        ClientRequest::parse(names::SUBMIT, &seven),
        Err(ParseError::Arity { got: 7, .. })
    ));
    let mut six = ok.to_vec();
    six.push(json!("123"));
    assert!(matches!(
        ClientRequest::parse(names::SUBMIT, &six),
        Err(ParseError::Hex {
            field: "version_bits",
            ..
        })
    ));
}

#[test]
fn configure_version_rolling() {
    let line = r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":2}]}"#;
    let req = ClientRequest::from_request(&request(line)).unwrap();
    let ClientRequest::Configure(c) = &req else {
        panic!()
    };
    assert_eq!(
        c.version_rolling,
        Some(VersionRollingRequest {
            mask: 0x1fff_e000,
            min_bit_count: 2
        })
    );
    assert_eq!(
        req,
        ClientRequest::Configure(Configure::version_rolling(0x1fff_e000, 2))
    );
    assert_eq!(Message::from(req.into_request(Id::Num(1))).to_line(), line);

    // Other extensions are kept; version rolling defaults per BIP310.
    let req = ClientRequest::parse(
        names::CONFIGURE,
        &[
            json!(["minimum-difficulty", "version-rolling"]),
            json!({"minimum-difficulty.value": 2048}),
        ],
    )
    .unwrap();
    let ClientRequest::Configure(c) = req else {
        panic!()
    };
    assert_eq!(c.version_rolling.unwrap().mask, u32::MAX);
    assert_eq!(c.parameters["minimum-difficulty.value"], json!(2048));

    for bad in [
        vec![json!("version-rolling"), json!({})],
        vec![json!([1]), json!({})],
        vec![json!(["version-rolling"]), json!([])],
        vec![
            json!(["version-rolling"]),
            json!({"version-rolling.mask": 5}),
        ],
        vec![
            json!(["version-rolling"]),
            json!({"version-rolling.mask": "xyz"}),
        ],
        vec![
            json!(["version-rolling"]),
            json!({"version-rolling.min-bit-count": 99}),
        ],
        vec![json!(["version-rolling"])],
    ] {
        assert!(
            ClientRequest::parse(names::CONFIGURE, &bad).is_err(),
            "{bad:?}"
        );
    }

    let result = json!({"version-rolling": true, "version-rolling.mask": "18000000"});
    let r = ConfigureResult::from_value(&result).unwrap();
    assert_eq!(r.version_rolling, Some(true));
    assert_eq!(r.version_rolling_mask, Some(0x1800_0000));
    assert_eq!(
        ConfigureResult::version_rolling(0x1800_0000).to_value(),
        result
    );
    let refused = ConfigureResult::from_value(&json!({"version-rolling": false})).unwrap();
    assert_eq!(refused.version_rolling, Some(false));
    assert!(ConfigureResult::from_value(&json!([])).is_err());
    assert!(ConfigureResult::from_value(&json!({"version-rolling.mask": 1})).is_err());
}

#[test]
fn difficulty_messages() {
    let line = r#"{"id":null,"method":"mining.set_difficulty","params":[0.001]}"#;
    let m = ServerMessage::from_notification(&notification(line)).unwrap();
    assert_eq!(m, ServerMessage::SetDifficulty(0.001));
    assert_eq!(Message::from(m.into_notification()).to_line(), line);
    // Integral difficulties go out as integers, as classic pools send them.
    let line = r#"{"id":null,"method":"mining.set_difficulty","params":[1024]}"#;
    let m = ServerMessage::from_notification(&notification(line)).unwrap();
    assert_eq!(m, ServerMessage::SetDifficulty(1024.0));
    assert_eq!(Message::from(m.into_notification()).to_line(), line);
    for bad in [json!(0), json!(-1.5), json!("1"), json!(null)] {
        assert!(ServerMessage::parse(names::SET_DIFFICULTY, &[bad]).is_err());
    }
    assert!(ServerMessage::parse(names::SET_DIFFICULTY, &[]).is_err());

    let req = ClientRequest::parse(names::SUGGEST_DIFFICULTY, &[json!(0.5)]).unwrap();
    assert_eq!(req, ClientRequest::SuggestDifficulty(0.5));
    assert_eq!(req.to_params(), vec![json!(0.5)]);
}

#[test]
fn extranonce_messages() {
    let req = ClientRequest::parse(names::EXTRANONCE_SUBSCRIBE, &[]).unwrap();
    assert_eq!(
        Message::from(req.into_request(Id::Num(3))).to_line(),
        r#"{"id":3,"method":"mining.extranonce.subscribe","params":[]}"#
    );
    assert!(ClientRequest::parse(names::EXTRANONCE_SUBSCRIBE, &[json!(1)]).is_err());

    let line = r#"{"id":null,"method":"mining.set_extranonce","params":["af4c0000",4]}"#;
    let m = ServerMessage::from_notification(&notification(line)).unwrap();
    assert_eq!(
        m,
        ServerMessage::SetExtranonce(SetExtranonce {
            extranonce1: vec![0xaf, 0x4c, 0, 0],
            extranonce2_size: 4
        })
    );
    assert_eq!(Message::from(m.into_notification()).to_line(), line);
    assert!(ServerMessage::parse(names::SET_EXTRANONCE, &[json!("af4"), json!(4)]).is_err());
    assert!(ServerMessage::parse(names::SET_EXTRANONCE, &[json!("af"), json!(4.5)]).is_err());
}

#[test]
fn client_messages() {
    let m = ServerMessage::parse(names::RECONNECT, &[]).unwrap();
    assert_eq!(m, ServerMessage::Reconnect(Reconnect::default()));
    assert!(m.to_params().is_empty());
    let m = ServerMessage::parse(
        names::RECONNECT,
        &[json!("pool.example"), json!("3333"), json!(10)],
    )
    .unwrap();
    let expected = Reconnect {
        host: Some("pool.example".into()),
        port: Some(3333),
        wait_secs: Some(10),
    };
    assert_eq!(m, ServerMessage::Reconnect(expected.clone()));
    assert_eq!(
        m.to_params(),
        vec![json!("pool.example"), json!(3333), json!(10)]
    );
    assert_eq!(
        ServerMessage::parse(names::RECONNECT, &m.to_params()).unwrap(),
        ServerMessage::Reconnect(expected)
    );
    assert!(ServerMessage::parse(names::RECONNECT, &[json!("h"), json!(70000)]).is_err());
    assert!(ServerMessage::parse(names::RECONNECT, &[json!("h"), json!("x")]).is_err());
    assert!(ServerMessage::parse(names::RECONNECT, &[json!(1)]).is_err());

    let line = r#"{"id":null,"method":"client.show_message","params":["maintenance at noon"]}"#;
    let m = ServerMessage::from_notification(&notification(line)).unwrap();
    assert_eq!(m, ServerMessage::ShowMessage("maintenance at noon".into()));
    assert_eq!(Message::from(m.into_notification()).to_line(), line);

    let m = ServerMessage::parse(names::SET_VERSION_MASK, &[json!("1fffe000")]).unwrap();
    assert_eq!(m, ServerMessage::SetVersionMask(0x1fff_e000));
    assert_eq!(m.to_params(), vec![json!("1fffe000")]);
}

#[test]
fn notify_errors_name_the_field() {
    let n = notification(CLASSIC_NOTIFY);
    let with = |i: usize, v: Value| {
        let mut p = n.params.clone();
        p[i] = v;
        ServerMessage::parse(names::NOTIFY, &p)
    };
    assert!(matches!(
        with(1, json!("00")),
        Err(ParseError::HexLength {
            field: "prevhash",
            ..
        })
    ));
    assert!(matches!(
        with(2, json!("0g")),
        Err(ParseError::Hex {
            field: "coinb1",
            ..
        })
    ));
    assert!(matches!(
        with(4, json!(["00"])),
        Err(ParseError::HexLength {
            field: "merkle_branch",
            ..
        })
    ));
    assert!(matches!(
        with(4, json!([1])),
        Err(ParseError::Type {
            field: "merkle_branch",
            ..
        })
    ));
    assert!(matches!(with(4, json!("00")), Err(ParseError::Type { .. })));
    assert!(matches!(
        with(5, json!("2")),
        Err(ParseError::Hex {
            field: "version",
            ..
        })
    ));
    assert!(matches!(
        with(6, json!(1)),
        Err(ParseError::Type { field: "nbits", .. })
    ));
    assert!(matches!(
        with(8, json!("true")),
        Err(ParseError::Type {
            field: "clean_jobs",
            ..
        })
    ));
    assert!(matches!(
        ServerMessage::parse(names::NOTIFY, &n.params[..8]),
        Err(ParseError::Arity { got: 8, .. })
    ));
}

#[test]
fn methods_are_directional() {
    let n = notification(CLASSIC_NOTIFY);
    let err = ClientRequest::parse(&n.method, &n.params).unwrap_err();
    assert!(matches!(err, ParseError::UnknownMethod(ref m) if m == "mining.notify"));
    assert_eq!(err.to_stratum().kind(), Some(ErrorCode::Other));
    assert!(matches!(
        ServerMessage::parse(names::SUBMIT, &[]),
        Err(ParseError::UnknownMethod(_))
    ));
}

#[test]
fn difficulty_value_forms() {
    assert_eq!(difficulty_value(1.0), json!(1));
    assert_eq!(difficulty_value(0.25), json!(0.25));
    assert_eq!(difficulty_value(1e300), json!(1e300));
    assert_eq!(difficulty_value(f64::NAN), Value::Null);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[0-9a-fA-F]{0,70}".prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".{0,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    const METHODS: &[&str] = &[
        names::SUBSCRIBE,
        names::AUTHORIZE,
        names::CONFIGURE,
        names::SUGGEST_DIFFICULTY,
        names::EXTRANONCE_SUBSCRIBE,
        names::SUBMIT,
        names::SET_DIFFICULTY,
        names::SET_EXTRANONCE,
        names::NOTIFY,
        names::SET_VERSION_MASK,
        names::RECONNECT,
        names::SHOW_MESSAGE,
        "mining.unknown",
    ];

    proptest! {
        /// Arbitrary params for every known method: errors, never panics.
        #[test]
        fn typed_parsing_never_panics(
            method in prop::sample::select(METHODS),
            params in prop::collection::vec(any_json(), 0..10),
        ) {
            let _ = ClientRequest::parse(method, &params);
            let _ = ServerMessage::parse(method, &params);
            let _ = SubscribeResult::from_value(&Value::Array(params.clone()));
            if let Some(p) = params.first() {
                let _ = ConfigureResult::from_value(p);
            }
        }

        /// Whatever parses, re-serializes and parses back to the same value.
        #[test]
        fn submit_round_trips(
            worker in ".{0,20}",
            job_id in "[0-9a-f]{1,16}",
            extranonce2 in prop::collection::vec(any::<u8>(), 0..16),
            ntime in any::<u32>(),
            nonce in any::<u32>(),
            version_bits in proptest::option::of(any::<u32>()),
        ) {
            let req = ClientRequest::Submit(Submit {
                worker, job_id, extranonce2, ntime, nonce, version_bits,
            });
            let line = Message::from(req.clone().into_request(Id::Num(7))).to_line();
            let Message::Request(r) = Message::from_line(&line).unwrap() else {
                panic!("not a request")
            };
            prop_assert_eq!(ClientRequest::from_request(&r).unwrap(), req);
        }

        #[test]
        fn notify_round_trips(
            prev in any::<[u8; 32]>(),
            coinb1 in prop::collection::vec(any::<u8>(), 0..64),
            coinb2 in prop::collection::vec(any::<u8>(), 0..64),
            branch in prop::collection::vec(any::<[u8; 32]>(), 0..4),
            version in any::<i32>(),
            nbits in any::<u32>(),
            ntime in any::<u32>(),
            clean_jobs in any::<bool>(),
            difficulty in 1e-9f64..1e12,
        ) {
            let job = ServerMessage::Notify(Notify {
                job_id: "j".into(),
                prevhash: BlockHash::from_byte_array(prev),
                coinb1, coinb2, merkle_branch: branch,
                version: Version::from_consensus(version),
                nbits: CompactTarget::from_consensus(nbits),
                ntime, clean_jobs,
            });
            for m in [job, ServerMessage::SetDifficulty(difficulty)] {
                let line = Message::from(m.clone().into_notification()).to_line();
                let Message::Notification(n) = Message::from_line(&line).unwrap() else {
                    panic!("not a notification")
                };
                prop_assert_eq!(ServerMessage::from_notification(&n).unwrap(), m);
            }
        }
    }
}
