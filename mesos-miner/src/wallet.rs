//! The tests' own keys and coins, since the node is built without a wallet.
//!
//! [`TestWallet`] derives keys deterministically from a label (`sha256(label ‖ index)`), gives
//! their addresses of every standard type ([`AddressKind`]), and builds and signs spends of the
//! coins it holds: P2PKH (legacy), P2SH-P2WPKH (nested segwit), P2WPKH (segwit v0) and P2TR key
//! path (taproot, BIP341). [`TestWallet::mine_coinbases`] mines blocks whose coinbases pay one
//! of its keys and lets them mature (100 blocks), so a test can fund transactions and
//! `sendrawtransaction` them: templates then carry real segwit and taproot transactions and a
//! `default_witness_commitment`.

use bitcoin::absolute::LockTime;
use bitcoin::consensus::encode;
use bitcoin::hashes::{sha256, Hash as _};
use bitcoin::key::{Keypair, TapTweak as _};
use bitcoin::script::{Builder, PushBytesBuf};
use bitcoin::secp256k1::{All, Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, Prevouts, SighashCache, TapSighashType};
use bitcoin::transaction::Version;
use bitcoin::{
    Address, Amount, CompressedPublicKey, Network, OutPoint, PublicKey, ScriptBuf, Sequence,
    Transaction, TxIn, TxOut, Txid, Witness,
};

use crate::node::{Node, NodeError};

/// The address types a test pays to and spends from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddressKind {
    /// Pay to public key hash (base58, legacy).
    P2pkh,
    /// P2WPKH nested in P2SH (base58, `2...`/`3...`).
    P2shP2wpkh,
    /// Segwit v0 key hash (bech32).
    P2wpkh,
    /// Segwit v0 script hash of `<key> OP_CHECKSIG` (bech32); payable, not spent here.
    P2wsh,
    /// Taproot key path, no script tree (bech32m).
    P2tr,
}

impl AddressKind {
    /// Every kind.
    pub const ALL: [AddressKind; 5] = [
        AddressKind::P2pkh,
        AddressKind::P2shP2wpkh,
        AddressKind::P2wpkh,
        AddressKind::P2wsh,
        AddressKind::P2tr,
    ];
    /// The kinds [`TestWallet::sign`] can spend.
    pub const SPENDABLE: [AddressKind; 4] = [
        AddressKind::P2pkh,
        AddressKind::P2shP2wpkh,
        AddressKind::P2wpkh,
        AddressKind::P2tr,
    ];
}

/// A coin the wallet can spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Utxo {
    /// Where it is.
    pub outpoint: OutPoint,
    /// Its value and script.
    pub txout: TxOut,
    /// The type of its script.
    pub kind: AddressKind,
    /// The key that owns it.
    pub key: u32,
}

/// Why a spend could not be built or broadcast.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The node refused or failed.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The inputs do not cover the outputs and the fee.
    #[error("inputs of {inputs} do not cover outputs of {outputs} plus a fee of {fee}")]
    Insufficient {
        /// Sum of inputs.
        inputs: Amount,
        /// Sum of outputs.
        outputs: Amount,
        /// The fee needed.
        fee: Amount,
    },
    /// A kind that is not spendable here.
    #[error("cannot spend {0:?} coins")]
    Unspendable(AddressKind),
    /// A block did not have the expected coinbase.
    #[error("block {0} has no coinbase paying the wallet")]
    NoCoinbase(bitcoin::BlockHash),
}

/// Deterministic keys and the spends they sign (see the module docs).
pub struct TestWallet {
    secp: Secp256k1<All>,
    network: Network,
    label: String,
}

impl std::fmt::Debug for TestWallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestWallet")
            .field("network", &self.network)
            .field("label", &self.label)
            .finish()
    }
}

impl TestWallet {
    /// Keys derived from `label`, with addresses for `network`.
    pub fn new(network: Network, label: &str) -> Self {
        Self {
            secp: Secp256k1::new(),
            network,
            label: label.to_owned(),
        }
    }

    /// The network of the addresses.
    pub fn network(&self) -> Network {
        self.network
    }

    /// Key number `index`.
    pub fn secret(&self, index: u32) -> SecretKey {
        let mut data = self.label.as_bytes().to_vec();
        data.extend_from_slice(&index.to_be_bytes());
        let mut digest = sha256::Hash::hash(&data).to_byte_array();
        // A hash is a valid key except with negligible probability; rehash until it is.
        loop {
            if let Ok(key) = SecretKey::from_slice(&digest) {
                return key;
            }
            digest = sha256::Hash::hash(&digest).to_byte_array();
        }
    }

    fn public(&self, index: u32) -> CompressedPublicKey {
        CompressedPublicKey(self.secret(index).public_key(&self.secp))
    }

    fn keypair(&self, index: u32) -> Keypair {
        Keypair::from_secret_key(&self.secp, &self.secret(index))
    }

    /// The `<key> OP_CHECKSIG` witness script of a P2WSH address.
    fn p2wsh_script(&self, index: u32) -> ScriptBuf {
        Builder::new()
            .push_key(&PublicKey::from(self.public(index)))
            .push_opcode(bitcoin::opcodes::all::OP_CHECKSIG)
            .into_script()
    }

    /// The address of `kind` for key `index`.
    pub fn address(&self, kind: AddressKind, index: u32) -> Address {
        let pk = self.public(index);
        match kind {
            AddressKind::P2pkh => Address::p2pkh(pk, self.network),
            AddressKind::P2shP2wpkh => Address::p2shwpkh(&pk, self.network),
            AddressKind::P2wpkh => Address::p2wpkh(&pk, self.network),
            AddressKind::P2wsh => Address::p2wsh(&self.p2wsh_script(index), self.network),
            AddressKind::P2tr => {
                let (xonly, _) = self.keypair(index).x_only_public_key();
                Address::p2tr(&self.secp, xonly, None, self.network)
            }
        }
    }

    /// The output script of [`Self::address`].
    pub fn script(&self, kind: AddressKind, index: u32) -> ScriptBuf {
        self.address(kind, index).script_pubkey()
    }

    /// Signs every input of `tx`, which spends `utxos` in order.
    pub fn sign(&self, tx: &mut Transaction, utxos: &[Utxo]) -> Result<(), WalletError> {
        let prevouts: Vec<TxOut> = utxos.iter().map(|u| u.txout.clone()).collect();
        let mut script_sigs = Vec::with_capacity(utxos.len());
        let mut witnesses = Vec::with_capacity(utxos.len());
        {
            let mut cache = SighashCache::new(&*tx);
            for (i, utxo) in utxos.iter().enumerate() {
                let secret = self.secret(utxo.key);
                let pk = self.public(utxo.key);
                let ecdsa = |digest: [u8; 32]| bitcoin::ecdsa::Signature {
                    signature: self.secp.sign_ecdsa(&Message::from_digest(digest), &secret),
                    sighash_type: EcdsaSighashType::All,
                };
                let (script_sig, witness) = match utxo.kind {
                    AddressKind::P2pkh => {
                        let hash = cache
                            .legacy_signature_hash(
                                i,
                                &utxo.txout.script_pubkey,
                                EcdsaSighashType::All.to_u32(),
                            )
                            .expect("input index in range");
                        let sig = ecdsa(hash.to_byte_array());
                        let sig_bytes =
                            PushBytesBuf::try_from(sig.to_vec()).expect("a signature fits a push");
                        let script = Builder::new()
                            .push_slice(sig_bytes)
                            .push_key(&PublicKey::from(pk))
                            .into_script();
                        (script, Witness::new())
                    }
                    AddressKind::P2wpkh | AddressKind::P2shP2wpkh => {
                        let program = ScriptBuf::new_p2wpkh(&pk.wpubkey_hash());
                        let hash = cache
                            .p2wpkh_signature_hash(
                                i,
                                &program,
                                utxo.txout.value,
                                EcdsaSighashType::All,
                            )
                            .expect("a p2wpkh program");
                        let sig = ecdsa(hash.to_byte_array());
                        let script = if utxo.kind == AddressKind::P2shP2wpkh {
                            let redeem = PushBytesBuf::try_from(program.into_bytes())
                                .expect("a program fits a push");
                            Builder::new().push_slice(redeem).into_script()
                        } else {
                            ScriptBuf::new()
                        };
                        (script, Witness::p2wpkh(&sig, &pk.0))
                    }
                    AddressKind::P2tr => {
                        let hash = cache
                            .taproot_key_spend_signature_hash(
                                i,
                                &Prevouts::All(&prevouts),
                                TapSighashType::Default,
                            )
                            .expect("prevouts for every input");
                        let tweaked = self.keypair(utxo.key).tap_tweak(&self.secp, None);
                        let signature = self.secp.sign_schnorr_no_aux_rand(
                            &Message::from_digest(hash.to_byte_array()),
                            &tweaked.to_keypair(),
                        );
                        let sig = bitcoin::taproot::Signature {
                            signature,
                            sighash_type: TapSighashType::Default,
                        };
                        (ScriptBuf::new(), Witness::p2tr_key_spend(&sig))
                    }
                    AddressKind::P2wsh => return Err(WalletError::Unspendable(utxo.kind)),
                };
                script_sigs.push(script_sig);
                witnesses.push(witness);
            }
        }
        for ((input, script_sig), witness) in tx.input.iter_mut().zip(script_sigs).zip(witnesses) {
            input.script_sig = script_sig;
            input.witness = witness;
        }
        Ok(())
    }

    /// A signed transaction spending `utxos` to `outputs`, with change (if above dust) to
    /// `change` and a fee of `fee_rate` sat/vB on its real size.
    pub fn spend(
        &self,
        utxos: &[Utxo],
        mut outputs: Vec<TxOut>,
        change: ScriptBuf,
        fee_rate: u64,
    ) -> Result<Transaction, WalletError> {
        let inputs: Amount = utxos.iter().map(|u| u.txout.value).sum();
        let paid: Amount = outputs.iter().map(|o| o.value).sum();
        outputs.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: change,
        });
        let mut tx = Transaction {
            version: Version::TWO,
            lock_time: LockTime::ZERO,
            input: utxos
                .iter()
                .map(|u| TxIn {
                    previous_output: u.outpoint,
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                    witness: Witness::new(),
                })
                .collect(),
            output: outputs,
        };
        // Sign once to learn the size (signatures vary by a byte at most: one more sat/vB of
        // slack covers it), then set the change and sign for real.
        self.sign(&mut tx, utxos)?;
        let fee = Amount::from_sat((tx.vsize() as u64 + 1) * fee_rate);
        let needed = paid + fee;
        if inputs < needed {
            return Err(WalletError::Insufficient {
                inputs,
                outputs: paid,
                fee,
            });
        }
        let change_value = inputs - needed;
        if change_value < Amount::from_sat(1_000) {
            tx.output.pop();
        } else {
            tx.output.last_mut().expect("change output").value = change_value;
        }
        self.sign(&mut tx, utxos)?;
        Ok(tx)
    }

    /// The coins `tx` pays to this wallet's `(kind, key)` scripts among `owned`.
    pub fn coins_of(tx: &Transaction, owned: &[(AddressKind, u32, ScriptBuf)]) -> Vec<Utxo> {
        let txid = tx.compute_txid();
        tx.output
            .iter()
            .enumerate()
            .filter_map(|(vout, out)| {
                let (kind, key, _) = owned.iter().find(|(_, _, s)| *s == out.script_pubkey)?;
                Some(Utxo {
                    outpoint: OutPoint::new(txid, vout as u32),
                    txout: out.clone(),
                    kind: *kind,
                    key: *key,
                })
            })
            .collect()
    }

    /// Mines `n` blocks whose coinbases pay key 0's P2WPKH address, then 100 more (to key 1)
    /// so they mature; returns the `n` spendable coinbase coins, oldest first.
    pub fn mine_coinbases(&self, node: &Node, n: u64) -> Result<Vec<Utxo>, WalletError> {
        let kind = AddressKind::P2wpkh;
        let owned = [(kind, 0, self.script(kind, 0))];
        let hashes = node.generate_to(n, &self.address(kind, 0).to_string())?;
        node.generate_to(100, &self.address(kind, 1).to_string())?;
        let mut coins = Vec::with_capacity(hashes.len());
        for hash in hashes {
            let block = node.block(&hash)?;
            let coinbase = block.txdata.first().ok_or(WalletError::NoCoinbase(hash))?;
            let mut found = Self::coins_of(coinbase, &owned);
            if found.is_empty() {
                return Err(WalletError::NoCoinbase(hash));
            }
            coins.push(found.remove(0));
        }
        Ok(coins)
    }

    /// Broadcasts `tx` (`sendrawtransaction`); returns its txid.
    pub fn broadcast(node: &Node, tx: &Transaction) -> Result<Txid, WalletError> {
        let txid = node.cli(&["sendrawtransaction", &encode::serialize_hex(tx)])?;
        txid.parse().map_err(|_| {
            WalletError::Node(NodeError::Cli {
                args: "sendrawtransaction".into(),
                code: None,
                message: format!("not a txid: {txid}"),
            })
        })
    }
}
