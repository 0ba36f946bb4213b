//! EVM transactions, the pure part of the intents API: addresses, the
//! signing key an intent names (a vault secret), and signed EIP-1559
//! (type 2) and legacy (EIP-155) transactions. RLP is `alloy-rlp`,
//! secp256k1 `k256`, keccak-256 `sha3`; nothing here talks to a node.
//!
//! A signed transaction is checked against a real node (Anvil) by
//! `tests/tests/evm_signing.rs`: the node must accept it and report the
//! sender derived here.

use alloy_rlp::{BufMut, Encodable, Header};
use k256::ecdsa::SigningKey;
use sha3::{Digest, Keccak256};

/// Keccak-256.
pub fn keccak256(bytes: &[u8]) -> [u8; 32] {
    Keccak256::digest(bytes).into()
}

/// Why a value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvmError {
    /// Not `0x` and 40 hex digits.
    #[error("must be an address: 0x and 40 hex digits")]
    Address,
    /// Not `0x`-prefixed hex.
    #[error("must be 0x-prefixed hex with an even number of digits")]
    Hex,
    /// Not 32 bytes of hex, or not a valid secp256k1 scalar.
    #[error("is not a secp256k1 private key (0x and 64 hex digits)")]
    PrivateKey,
}

/// A 20-byte account address.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// Parses `0x` and 40 hex digits (any case).
    pub fn parse(text: &str) -> Result<Self, EvmError> {
        let hex = text.strip_prefix("0x").ok_or(EvmError::Address)?;
        let mut out = [0u8; 20];
        if hex.len() != 40 {
            return Err(EvmError::Address);
        }
        hex::decode_to_slice(hex, &mut out).map_err(|_| EvmError::Address)?;
        Ok(Self(out))
    }

    /// The EIP-55 mixed-case checksum form.
    pub fn to_checksum(&self) -> String {
        let lower = hex::encode(self.0);
        let hash = keccak256(lower.as_bytes());
        let mut out = String::with_capacity(42);
        out.push_str("0x");
        for (i, c) in lower.chars().enumerate() {
            let nibble = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
            if c.is_ascii_alphabetic() && nibble >= 8 {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
        }
        out
    }
}

impl std::fmt::Debug for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_checksum())
    }
}

/// `0x`-prefixed hex (even length; `0x` alone is empty).
pub fn parse_hex(text: &str) -> Result<Vec<u8>, EvmError> {
    let digits = text.strip_prefix("0x").ok_or(EvmError::Hex)?;
    hex::decode(digits).map_err(|_| EvmError::Hex)
}

/// A key that signs transactions: a secp256k1 private key, as a vault
/// holds it (`0x` and 64 hex digits). Never printed.
pub struct Signer(SigningKey);

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({:?})", self.address())
    }
}

impl Signer {
    /// The key of a `private_key` secret's value (surrounding whitespace
    /// ignored, `0x` optional).
    pub fn from_hex(text: &str) -> Result<Self, EvmError> {
        let text = text.trim();
        let digits = text.strip_prefix("0x").unwrap_or(text);
        let mut bytes = [0u8; 32];
        if digits.len() != 64 {
            return Err(EvmError::PrivateKey);
        }
        hex::decode_to_slice(digits, &mut bytes).map_err(|_| EvmError::PrivateKey)?;
        let key = SigningKey::from_slice(&bytes).map_err(|_| EvmError::PrivateKey);
        bytes.fill(0);
        Ok(Self(key?))
    }

    /// The address of the key: the last 20 bytes of the keccak-256 of the
    /// uncompressed public key (without its 0x04 tag).
    pub fn address(&self) -> Address {
        let point = self.0.verifying_key().to_sec1_point(false);
        let hash = keccak256(&point.as_bytes()[1..]);
        let mut out = [0u8; 20];
        out.copy_from_slice(&hash[12..]);
        Address(out)
    }

    /// Signs `tx`.
    pub fn sign(&self, tx: &Transaction) -> SignedTransaction {
        let sighash = keccak256(&tx.signing_payload());
        let (signature, recovery) = self.0.sign_prehash_recoverable(&sighash);
        // k256 answers low-S signatures (EIP-2), with the recovery id for them.
        let bytes = signature.to_bytes();
        let r = U256Bytes::from_be(&bytes[..32]);
        let s = U256Bytes::from_be(&bytes[32..]);
        let raw = tx.signed_encoding(u64::from(recovery.is_y_odd()), &r, &s);
        SignedTransaction {
            hash: keccak256(&raw),
            raw,
            from: self.address(),
        }
    }
}

/// A signed transaction: what `eth_sendRawTransaction` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTransaction {
    /// The encoded transaction.
    pub raw: Vec<u8>,
    /// Its hash (keccak-256 of `raw`).
    pub hash: [u8; 32],
    /// Who signed it.
    pub from: Address,
}

/// What a transaction pays for gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fees {
    /// EIP-1559 (type 2): a tip and a cap, in wei per gas.
    Eip1559 {
        /// `maxPriorityFeePerGas`.
        max_priority_fee_per_gas: u128,
        /// `maxFeePerGas`.
        max_fee_per_gas: u128,
    },
    /// Legacy (EIP-155 replay-protected): one price, in wei per gas.
    Legacy {
        /// `gasPrice`.
        gas_price: u128,
    },
}

/// An unsigned transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The EIP-155 chain id.
    pub chain_id: u64,
    /// The sender's nonce.
    pub nonce: u64,
    /// What it pays for gas.
    pub fees: Fees,
    /// Gas limit.
    pub gas_limit: u64,
    /// The recipient (contract creation is not an intent).
    pub to: Address,
    /// Wei sent.
    pub value: u128,
    /// Call data.
    pub data: Vec<u8>,
}

/// An unsigned 256-bit integer as big-endian bytes without leading zeros
/// (how RLP encodes a signature's `r` and `s`).
struct U256Bytes(Vec<u8>);

impl U256Bytes {
    fn from_be(bytes: &[u8]) -> Self {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        Self(bytes[start..].to_vec())
    }
}

impl Encodable for U256Bytes {
    fn encode(&self, out: &mut dyn BufMut) {
        // A number, not a byte string: zero is the empty string, and a
        // single byte below 0x80 is itself.
        self.0.as_slice().encode(out);
    }

    fn length(&self) -> usize {
        self.0.as_slice().length()
    }
}

/// The fields of a list, encoded one after the other, with the list's
/// header in front.
fn rlp_list(fields: &[&dyn Encodable]) -> Vec<u8> {
    let payload_length: usize = fields.iter().map(|f| f.length()).sum();
    let mut out = Vec::with_capacity(payload_length + 9);
    Header {
        list: true,
        payload_length,
    }
    .encode(&mut out);
    for field in fields {
        field.encode(&mut out);
    }
    out
}

/// An empty access list (`[]`).
struct EmptyList;

impl Encodable for EmptyList {
    fn encode(&self, out: &mut dyn BufMut) {
        Header {
            list: true,
            payload_length: 0,
        }
        .encode(out);
    }

    fn length(&self) -> usize {
        1
    }
}

/// A signature as a transaction carries it: the parity of `R`'s `y`, and
/// `r` and `s`.
struct Signature<'a> {
    y_parity: u64,
    r: &'a U256Bytes,
    s: &'a U256Bytes,
}

impl Transaction {
    /// What is signed: for type 2, `0x02 || rlp([chainId, nonce, tip, cap,
    /// gas, to, value, data, accessList])`; for legacy (EIP-155),
    /// `rlp([nonce, gasPrice, gas, to, value, data, chainId, 0, 0])`.
    pub fn signing_payload(&self) -> Vec<u8> {
        self.encode(None)
    }

    /// The signed encoding: type 2 appends `yParity, r, s`; legacy puts
    /// `v = parity + chainId * 2 + 35, r, s` where the payload had
    /// `chainId, 0, 0`.
    fn signed_encoding(&self, y_parity: u64, r: &U256Bytes, s: &U256Bytes) -> Vec<u8> {
        self.encode(Some(Signature { y_parity, r, s }))
    }

    fn encode(&self, signature: Option<Signature<'_>>) -> Vec<u8> {
        let data = self.data.as_slice();
        match self.fees {
            Fees::Eip1559 {
                max_priority_fee_per_gas,
                max_fee_per_gas,
            } => {
                let mut fields: Vec<&dyn Encodable> = vec![
                    &self.chain_id,
                    &self.nonce,
                    &max_priority_fee_per_gas,
                    &max_fee_per_gas,
                    &self.gas_limit,
                    &self.to.0,
                    &self.value,
                    &data,
                    &EmptyList,
                ];
                if let Some(sig) = &signature {
                    fields.extend([&sig.y_parity as &dyn Encodable, sig.r, sig.s]);
                }
                let mut out = vec![2u8];
                out.extend(rlp_list(&fields));
                out
            }
            Fees::Legacy { gas_price } => {
                let mut fields: Vec<&dyn Encodable> = vec![
                    &self.nonce,
                    &gas_price,
                    &self.gas_limit,
                    &self.to.0,
                    &self.value,
                    &data,
                ];
                let v;
                match &signature {
                    Some(sig) => {
                        v = u128::from(sig.y_parity) + u128::from(self.chain_id) * 2 + 35;
                        fields.extend([&v as &dyn Encodable, sig.r, sig.s]);
                    }
                    None => fields.extend([&self.chain_id as &dyn Encodable, &0u8, &0u8]),
                }
                rlp_list(&fields)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The first development account of Anvil and Hardhat (a published
    /// test key, funded on development chains only).
    const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    #[test]
    fn a_key_gives_its_address() {
        let signer = Signer::from_hex(DEV_KEY).unwrap();
        assert_eq!(
            signer.address().to_checksum(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        assert!(!format!("{signer:?}").contains("ac0974"));
        for bad in ["", "0x12", &DEV_KEY[..65], &"0".repeat(64)] {
            assert!(Signer::from_hex(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_parse_and_print_with_their_checksum() {
        let a = Address::parse("0x70997970c51812dc3a010c7d01b50e0d17dc79c8").unwrap();
        assert_eq!(
            a.to_checksum(),
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
        );
        for bad in [
            "70997970c51812dc3a010c7d01b50e0d17dc79c8",
            "0x1234",
            "0xzz997970c51812dc3a010c7d01b50e0d17dc79c8",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_hex("0x").unwrap(), Vec::<u8>::new());
        assert_eq!(parse_hex("0xa9059cbb").unwrap(), [0xa9, 0x05, 0x9c, 0xbb]);
        assert!(parse_hex("a9").is_err() && parse_hex("0xabc").is_err());
    }

    #[test]
    fn the_eip155_example_signs_as_published() {
        // The example of EIP-155 itself: nonce 9, 20 gwei, 21000 gas, to
        // 0x3535…35, 1 ether, chain 1, key 0x4646…46.
        let tx = Transaction {
            chain_id: 1,
            nonce: 9,
            fees: Fees::Legacy {
                gas_price: 20_000_000_000,
            },
            gas_limit: 21_000,
            to: Address([0x35; 20]),
            value: 1_000_000_000_000_000_000,
            data: Vec::new(),
        };
        assert_eq!(
            hex::encode(tx.signing_payload()),
            "ec098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a764000080018080"
        );
        let signed = Signer::from_hex(&"46".repeat(32)).unwrap().sign(&tx);
        assert_eq!(
            hex::encode(&signed.raw),
            "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83"
        );
    }

    #[test]
    fn a_type_2_transaction_starts_with_its_type_and_hashes_what_is_sent() {
        let tx = Transaction {
            chain_id: 31337,
            nonce: 0,
            fees: Fees::Eip1559 {
                max_priority_fee_per_gas: 1_000_000_000,
                max_fee_per_gas: 2_000_000_000,
            },
            gas_limit: 21_000,
            to: Address::parse("0x70997970c51812dc3a010c7d01b50e0d17dc79c8").unwrap(),
            value: 1,
            data: Vec::new(),
        };
        let signed = Signer::from_hex(DEV_KEY).unwrap().sign(&tx);
        assert_eq!(signed.raw[0], 2);
        assert_eq!(signed.hash, keccak256(&signed.raw));
        assert_eq!(signed.from, Signer::from_hex(DEV_KEY).unwrap().address());
        // Deterministic (RFC 6979): the same transaction signs the same.
        assert_eq!(Signer::from_hex(DEV_KEY).unwrap().sign(&tx), signed);
    }
}
