//! Typed results of the node RPCs the proxy uses: `getblockchaininfo`, `getblocktemplate`
//! (BIP22/BIP23 shape, with Bitcoin Core's segwit members optional) and `submitblock`.
//!
//! Hex members are decoded at parse time, so a malformed template is a parse error here and not
//! a surprise while building a job. Hashes use the node's display (RPC) byte order, which is
//! what `bitcoin`'s hash types read from strings.

use std::collections::BTreeMap;

use bitcoin::block::Version;
use bitcoin::consensus::encode;
use bitcoin::network::ParseNetworkError;
use bitcoin::{
    Amount, BlockHash, CompactTarget, Network, ScriptBuf, Target, Transaction, Txid, Wtxid,
};
use serde::{Deserialize, Deserializer};

/// The parts of `getblockchaininfo` the proxy looks at.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BlockchainInfo {
    /// `"main"`, `"test"`, `"regtest"`, `"signet"`, ...
    pub chain: String,
    /// Height of the best validated block.
    pub blocks: u64,
    /// Height of the best known header.
    pub headers: u64,
    /// Hash of the best block.
    pub bestblockhash: BlockHash,
    /// Whether the node considers itself in initial block download (absent on some nodes).
    #[serde(default)]
    pub initialblockdownload: Option<bool>,
}

impl BlockchainInfo {
    /// The network of [`Self::chain`] (see [`chain_network`]).
    pub fn network(&self) -> Result<Network, ParseNetworkError> {
        chain_network(&self.chain)
    }
}

/// The network for a `getblockchaininfo.chain` name (Core's `-chain` names: `"main"`,
/// `"test"` (testnet3), `"testnet4"`, `"signet"`, `"regtest"`).
pub fn chain_network(chain: &str) -> Result<Network, ParseNetworkError> {
    Network::from_core_arg(chain)
}

/// The `rules` a `getblocktemplate` request must list on `network`: `segwit` always (Core
/// refuses a template without it), plus `signet` on signet, where Core refuses the call
/// (error -8) unless the client says it knows the signet rules.
pub fn template_rules(network: Network) -> &'static [&'static str] {
    match network {
        Network::Signet => &["segwit", "signet"],
        _ => &["segwit"],
    }
}

/// One non-coinbase transaction of a block template.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TemplateTransaction {
    /// The serialized transaction (with witness when it has one).
    #[serde(deserialize_with = "hex_bytes")]
    pub data: Vec<u8>,
    /// Transaction id (display order in JSON).
    pub txid: Txid,
    /// Witness transaction id; equal to the txid when there is no witness. Some nodes omit it.
    #[serde(default)]
    pub hash: Option<Wtxid>,
    /// Fee in satoshis.
    #[serde(with = "bitcoin::amount::serde::as_sat")]
    pub fee: Amount,
    /// Indexes (1-based) of template transactions this one depends on.
    #[serde(default)]
    pub depends: Vec<u32>,
    /// Weight units (Bitcoin Core; absent on nodes without segwit).
    #[serde(default)]
    pub weight: Option<u64>,
    /// Signature-operation cost (Bitcoin Core counts in cost units: legacy sigops * 4, plus
    /// P2SH and witness sigops; absent on some nodes).
    #[serde(default)]
    pub sigops: Option<u64>,
}

impl TemplateTransaction {
    /// Decodes [`Self::data`].
    pub fn transaction(&self) -> Result<Transaction, encode::Error> {
        encode::deserialize(&self.data)
    }
}

/// A `getblocktemplate` answer.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BlockTemplate {
    /// Block version to use (may be rolled within the BIP320 bits).
    #[serde(deserialize_with = "block_version")]
    pub version: Version,
    /// The block this template builds on.
    pub previousblockhash: BlockHash,
    /// Transactions to include after the coinbase, in order.
    pub transactions: Vec<TemplateTransaction>,
    /// Subsidy plus fees available to the coinbase.
    #[serde(with = "bitcoin::amount::serde::as_sat")]
    pub coinbasevalue: Amount,
    /// Full target (64 hex digits, big-endian).
    #[serde(deserialize_with = "target")]
    pub target: Target,
    /// Earliest allowed header time.
    pub mintime: u32,
    /// The node's current time, a good header time.
    pub curtime: u32,
    /// Compact target for the header.
    #[serde(deserialize_with = "compact_target")]
    pub bits: CompactTarget,
    /// Height of the block to build (goes into the coinbase, BIP34).
    pub height: u32,
    /// Pass back to `getblocktemplate` to wait for a change (longpoll).
    #[serde(default)]
    pub longpollid: Option<String>,
    /// Witness commitment output script to put in the coinbase when there are witness
    /// transactions (Bitcoin Core; absent on nodes without segwit).
    #[serde(default, deserialize_with = "opt_script")]
    pub default_witness_commitment: Option<ScriptBuf>,
    /// Consensus rules the template follows, e.g. `["csv", "!segwit", "taproot"]`.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Pending version-bits deployments the node would signal: name -> bit.
    #[serde(default)]
    pub vbavailable: Option<BTreeMap<String, u32>>,
    /// Data the node asks to be put in the coinbase script (`coinbaseaux.flags`).
    #[serde(default)]
    pub coinbaseaux: Option<BTreeMap<String, String>>,
    /// Size limit in bytes (nodes without weight).
    #[serde(default)]
    pub sizelimit: Option<u64>,
    /// Weight limit (Bitcoin Core).
    #[serde(default)]
    pub weightlimit: Option<u64>,
    /// Signature-operation limit.
    #[serde(default)]
    pub sigoplimit: Option<u64>,
}

/// The parts of `getblockheader` (verbose) the proxy looks at.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BlockHeaderInfo {
    /// Blocks on top of it in the best chain plus one; `-1` when it is not in the best chain.
    pub confirmations: i64,
    /// Its height, when the node reports it.
    #[serde(default)]
    pub height: Option<u64>,
}

impl BlockHeaderInfo {
    /// Whether the block is in the node's best chain.
    pub fn in_best_chain(&self) -> bool {
        self.confirmations >= 1
    }
}

/// What `submitblock` said about a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitBlockOutcome {
    /// `null`: the block was accepted.
    Accepted,
    /// `"duplicate"`: already known and valid.
    Duplicate,
    /// `"inconclusive"` / `"duplicate-inconclusive"`: stored but not (yet) validated, e.g. not
    /// on the best chain.
    Inconclusive,
    /// Anything else: the node's rejection reason, e.g. `"bad-txnmrklroot"`, `"high-hash"`,
    /// `"rejected"`, `"duplicate-invalid"`, or `"Block decode failed"` when the bytes were not
    /// a block at all.
    Rejected {
        /// The reason as the node gave it.
        reason: String,
    },
}

impl SubmitBlockOutcome {
    /// Interprets the RPC result (`null` or a string).
    pub fn from_result(result: Option<String>) -> Self {
        match result.as_deref() {
            None => Self::Accepted,
            Some("duplicate") => Self::Duplicate,
            Some("inconclusive" | "duplicate-inconclusive") => Self::Inconclusive,
            Some(reason) => Self::Rejected {
                reason: reason.to_owned(),
            },
        }
    }

    /// A short name for counters and the journal: `accepted`, `duplicate`, `inconclusive`, or
    /// `rejected`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Inconclusive => "inconclusive",
            Self::Rejected { .. } => "rejected",
        }
    }

    /// Whether the block is (now) part of the node's block store as valid.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Self::Accepted | Self::Duplicate)
    }
}

fn hex_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    hex::decode(&s).map_err(serde::de::Error::custom)
}

fn block_version<'de, D: Deserializer<'de>>(d: D) -> Result<Version, D::Error> {
    // Nodes print the version as a signed or unsigned 32-bit integer.
    let v = i64::deserialize(d)?;
    let v = i32::try_from(v)
        .or_else(|_| u32::try_from(v).map(|u| u as i32))
        .map_err(|_| serde::de::Error::custom("block version out of 32-bit range"))?;
    Ok(Version::from_consensus(v))
}

fn target<'de, D: Deserializer<'de>>(d: D) -> Result<Target, D::Error> {
    let s = String::deserialize(d)?;
    let bytes = hex::decode(&s).map_err(serde::de::Error::custom)?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| serde::de::Error::custom("target must be 64 hex digits"))?;
    Ok(Target::from_be_bytes(bytes))
}

fn compact_target<'de, D: Deserializer<'de>>(d: D) -> Result<CompactTarget, D::Error> {
    let s = String::deserialize(d)?;
    let bytes = hex::decode(&s).map_err(serde::de::Error::custom)?;
    let bytes: [u8; 4] = bytes
        .try_into()
        .map_err(|_| serde::de::Error::custom("bits must be 8 hex digits"))?;
    Ok(CompactTarget::from_consensus(u32::from_be_bytes(bytes)))
}

fn opt_script<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ScriptBuf>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    s.map(|s| {
        hex::decode(&s)
            .map(ScriptBuf::from_bytes)
            .map_err(serde::de::Error::custom)
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A template shaped like Bitcoin Core's, with a segwit transaction.
    fn core_template() -> serde_json::Value {
        json!({
            "capabilities": ["proposal"],
            "version": 536870912,
            "rules": ["csv", "!segwit", "taproot"],
            "vbavailable": {},
            "vbrequired": 0,
            "previousblockhash": "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
            "transactions": [{
                "data": "0200000000010100000000000000000000000000000000000000000000000000000000000000000000000000ffffffff0100000000000000000000000000",
                "txid": "1111111111111111111111111111111111111111111111111111111111111111",
                "hash": "2222222222222222222222222222222222222222222222222222222222222222",
                "depends": [],
                "fee": 1410,
                "sigops": 1,
                "weight": 561
            }],
            "coinbaseaux": {},
            "coinbasevalue": 5000001410u64,
            "longpollid": "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e22063",
            "target": "7fffff0000000000000000000000000000000000000000000000000000000000",
            "mintime": 1296688603,
            "mutable": ["time", "transactions", "prevblock"],
            "noncerange": "00000000ffffffff",
            "sigoplimit": 80000,
            "sizelimit": 4000000,
            "weightlimit": 4000000,
            "curtime": 1700000000,
            "bits": "207fffff",
            "height": 1,
            "default_witness_commitment": "6a24aa21a9ede2f61c3f71d1defd3fa999dfa36953755c690689799962b48bebd836974e8cf9"
        })
    }

    #[test]
    fn parses_a_core_template() {
        let t: BlockTemplate = serde_json::from_value(core_template()).unwrap();
        assert_eq!(t.version, Version::from_consensus(0x2000_0000));
        assert_eq!(t.bits, CompactTarget::from_consensus(0x207f_ffff));
        assert_eq!(t.target, Target::from_compact(t.bits));
        assert_eq!(t.coinbasevalue, Amount::from_sat(5_000_001_410));
        assert_eq!(t.height, 1);
        assert_eq!(t.rules, vec!["csv", "!segwit", "taproot"]);
        assert_eq!(t.transactions[0].fee, Amount::from_sat(1410));
        assert_eq!(t.transactions[0].weight, Some(561));
        assert_eq!(t.transactions[0].sigops, Some(1));
        assert!(t.transactions[0].hash.is_some());
        let commitment = t.default_witness_commitment.unwrap();
        assert!(commitment.is_op_return());
        assert_eq!(commitment.len(), 38);
        assert_eq!(
            t.previousblockhash.to_string(),
            "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
        );
    }

    #[test]
    fn parses_a_template_without_segwit_members() {
        let mut v = core_template();
        let obj = v.as_object_mut().unwrap();
        for k in [
            "rules",
            "vbavailable",
            "default_witness_commitment",
            "weightlimit",
        ] {
            obj.remove(k);
        }
        obj["transactions"] = json!([]);
        let t: BlockTemplate = serde_json::from_value(v).unwrap();
        assert!(t.rules.is_empty());
        assert!(t.default_witness_commitment.is_none());
        assert!(t.vbavailable.is_none());
    }

    #[test]
    fn rejects_malformed_hex_members() {
        for (key, bad) in [
            ("bits", json!("207fff")),
            ("bits", json!("zz7fffff")),
            ("target", json!("7fffff")),
            ("previousblockhash", json!("00")),
            ("version", json!(1u64 << 40)),
        ] {
            let mut v = core_template();
            v[key] = bad;
            assert!(serde_json::from_value::<BlockTemplate>(v).is_err(), "{key}");
        }
    }

    #[test]
    fn chains_map_to_networks_and_template_rules() {
        for (chain, network) in [
            ("main", Network::Bitcoin),
            ("test", Network::Testnet),
            ("testnet4", Network::Testnet4),
            ("signet", Network::Signet),
            ("regtest", Network::Regtest),
        ] {
            assert_eq!(chain_network(chain).unwrap(), network, "{chain}");
        }
        assert!(chain_network("bsv-regtest").is_err());
        assert!(chain_network("mainnet").is_err());
        let info: BlockchainInfo = serde_json::from_value(json!({
            "chain": "signet", "blocks": 1, "headers": 1,
            "bestblockhash": "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
        }))
        .unwrap();
        assert_eq!(info.network().unwrap(), Network::Signet);
        assert_eq!(template_rules(Network::Signet), ["segwit", "signet"]);
        for n in [
            Network::Bitcoin,
            Network::Testnet,
            Network::Testnet4,
            Network::Regtest,
        ] {
            assert_eq!(template_rules(n), ["segwit"]);
        }
    }

    #[test]
    fn submitblock_outcomes() {
        use SubmitBlockOutcome::*;
        assert_eq!(SubmitBlockOutcome::from_result(None), Accepted);
        assert_eq!(
            SubmitBlockOutcome::from_result(Some("duplicate".into())),
            Duplicate
        );
        assert_eq!(
            SubmitBlockOutcome::from_result(Some("duplicate-inconclusive".into())),
            Inconclusive
        );
        assert_eq!(
            SubmitBlockOutcome::from_result(Some("high-hash".into())),
            Rejected {
                reason: "high-hash".into()
            }
        );
        assert!(Duplicate.is_accepted());
        assert!(!Inconclusive.is_accepted());
        // Every answer Core v31 gives, by its meaning.
        for (answer, kind) in [
            (None, "accepted"),
            (Some("duplicate"), "duplicate"),
            (Some("inconclusive"), "inconclusive"),
            (Some("duplicate-inconclusive"), "inconclusive"),
            (Some("duplicate-invalid"), "rejected"),
            (Some("high-hash"), "rejected"),
            (Some("bad-txnmrklroot"), "rejected"),
            (Some("bad-cb-height"), "rejected"),
            (Some("bad-blk-weight"), "rejected"),
            (Some("bad-blk-sigops"), "rejected"),
            (Some("bad-witness-merkle-match"), "rejected"),
            (Some("time-too-new"), "rejected"),
            (Some("prev-blk-not-found"), "rejected"),
        ] {
            let outcome = SubmitBlockOutcome::from_result(answer.map(str::to_owned));
            assert_eq!(outcome.kind(), kind, "{answer:?}");
            if let Rejected { reason } = &outcome {
                assert_eq!(Some(reason.as_str()), answer);
            }
        }
        let header: BlockHeaderInfo =
            serde_json::from_value(json!({"confirmations": -1, "height": 5})).unwrap();
        assert!(!header.in_best_chain());
    }
}
