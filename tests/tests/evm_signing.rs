//! The intents API's signer against a real Ethereum node (Anvil, started
//! by `scripts/anvil.sh` through `make test`, its URL in `CP_ANVIL_URL`):
//! an EIP-1559 and a legacy transfer signed by `cp_agents::evm` are
//! accepted, mined with the sender derived from the key and the expected
//! nonce, and move the value. A hand-checked vector proves the encoding
//! (unit tests); only a node proves it is a transaction.

#![allow(clippy::unwrap_used)]

use cp_agents::evm::{Address, Fees, Signer, Transaction};
use cp_tests::{call, send_to};
use serde_json::{json, Value};

fn anvil() -> String {
    std::env::var("CP_ANVIL_URL").unwrap_or_else(|_| {
        panic!("CP_ANVIL_URL is not set: run the tests with `make test` (scripts/anvil.sh starts the node)")
    })
}

/// One JSON-RPC call: its `result` (a JSON-RPC error fails the test).
async fn rpc(method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let resp = send_to(&anvil(), call("POST", "/").anonymous().json(&body)).await;
    let answer = resp.expect(200);
    assert!(answer.get("error").is_none(), "{method}: {answer}");
    answer["result"].clone()
}

fn quantity(v: &Value) -> u128 {
    u128::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// A fresh address nobody holds a key for: it starts with nothing.
fn fresh_address() -> Address {
    let id = uuid::Uuid::now_v7();
    let mut out = [0u8; 20];
    out[4..].copy_from_slice(id.as_bytes());
    Address(out)
}

/// Signs `fees`' kind of transfer with `key`, sends it, and checks what the
/// node mined.
async fn transfer(key: &str, fees: impl Fn(u128) -> Fees, kind: &str) {
    let signer = Signer::from_hex(key).unwrap();
    let from = signer.address();
    let from_hex = format!("0x{}", hex::encode(from.0));
    let chain_id = u64::try_from(quantity(&rpc("eth_chainId", json!([])).await)).unwrap();
    let nonce = u64::try_from(quantity(
        &rpc("eth_getTransactionCount", json!([from_hex, "pending"])).await,
    ))
    .unwrap();
    let base_fee =
        quantity(&rpc("eth_getBlockByNumber", json!(["latest", false])).await["baseFeePerGas"]);
    let to = fresh_address();
    let tx = Transaction {
        chain_id,
        nonce,
        fees: fees(base_fee),
        gas_limit: 21_000,
        to,
        value: 123_456_789,
        data: Vec::new(),
    };
    let signed = signer.sign(&tx);
    let sent = rpc(
        "eth_sendRawTransaction",
        json!([format!("0x{}", hex::encode(&signed.raw))]),
    )
    .await;
    let hash = format!("0x{}", hex::encode(signed.hash));
    assert_eq!(sent, hash.as_str(), "the node hashes what we hash");

    // Anvil mines each transaction as it arrives; the receipt follows.
    let mut receipt = Value::Null;
    for _ in 0..100 {
        receipt = rpc("eth_getTransactionReceipt", json!([hash])).await;
        if !receipt.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    assert_eq!(receipt["from"], from_hex.as_str());
    let mined = rpc("eth_getTransactionByHash", json!([hash])).await;
    assert_eq!(mined["type"], kind, "{mined}");
    assert_eq!(quantity(&mined["nonce"]), u128::from(nonce));
    assert_eq!(mined["from"], from_hex.as_str());
    let to_hex = format!("0x{}", hex::encode(to.0));
    assert_eq!(
        quantity(&rpc("eth_getBalance", json!([to_hex, "latest"])).await),
        123_456_789
    );
}

#[tokio::test]
async fn an_eip1559_transfer_is_accepted_and_mined_from_the_signers_address() {
    // Anvil's second development account (a published test key).
    let key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
    let tip = 1_000_000_000;
    transfer(
        key,
        |base_fee| Fees::Eip1559 {
            max_priority_fee_per_gas: tip,
            max_fee_per_gas: base_fee * 2 + tip,
        },
        "0x2",
    )
    .await;
}

#[tokio::test]
async fn a_legacy_transfer_is_accepted_and_mined_from_the_signers_address() {
    // Anvil's third development account.
    let key = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
    transfer(
        key,
        |base_fee| Fees::Legacy {
            gas_price: base_fee * 2 + 1_000_000_000,
        },
        "0x0",
    )
    .await;
}
