//! The trainer API end to end: one member of a real four-node testnet trains outside the node
//! (`[training] mode = "external"`); this test is its trainer. Bad submissions are refused with
//! a reason and leave nothing behind; good ones are released, finalized, and accounted with the
//! node's own accountant.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedledger_ledger::block::DpSpend;
use fedledger_tests::{
    assert_spent_as_reported, http_call, http_raw, make_external, serial, wait_trainer_token,
    Testnet,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const FAST: [&str; 4] = ["--collect-timeout-ms", "1500", "--view-timeout-ms", "2000"];

struct Trainer {
    addr: String,
    token: String,
}

impl Trainer {
    fn get(&self, path: &str) -> (u16, Value) {
        let (status, body) = http_call(&self.addr, "GET", path, &self.token, None).expect("reply");
        (
            status,
            serde_json::from_str(&body).unwrap_or(Value::String(body)),
        )
    }
    /// A binary submission: `meta` in the header, `delta` as raw little-endian bytes.
    fn submit_binary(&self, meta: &Value, delta: &[u8]) -> (u16, String) {
        let meta = meta.to_string();
        let headers = [
            ("Content-Type", "application/octet-stream"),
            ("X-Fedledger-Submission", meta.as_str()),
        ];
        let (status, _, body) = http_raw(
            &self.addr,
            "POST",
            "/v1/update",
            &self.token,
            &headers,
            delta,
        )
        .expect("reply");
        (status, String::from_utf8_lossy(&body).into_owned())
    }
    fn submit(&self, body: &Value) -> (u16, String) {
        http_call(
            &self.addr,
            "POST",
            "/v1/update",
            &self.token,
            Some(&body.to_string()),
        )
        .expect("reply")
    }
    /// Wait for an open round; its (round, base model, params).
    fn open_round(&self, after: u64) -> (u64, String, Vec<f64>) {
        let t = Instant::now();
        loop {
            let (s, offer) = self.get("/v1/round");
            assert_eq!(s, 200, "{offer}");
            let round = offer["round"].as_u64().unwrap();
            if offer["open"] == true && round > after {
                let (s, model) = self.get("/v1/model");
                if s == 200 && model["round"] == round {
                    let params = model["params"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap())
                        .collect();
                    return (round, model["base_model"].as_str().unwrap().into(), params);
                }
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "no open round: {offer}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn submission(round: u64, base: &str, delta: Vec<f64>, dp: &DpSpend) -> Value {
    json!({
        "round": round,
        "base_model": base,
        "delta": delta,
        "dp": dp,
        "num_examples": 800,
        "metrics": {"examples": 200, "loss": 0.6, "accuracy": 0.7, "auc": 0.72, "groups": []},
    })
}

#[test]
fn an_external_trainer_contributes_and_bad_submissions_are_refused() {
    let _g = serial();
    let mut net = Testnet::setup(&[&["--nodes", "4", "--rounds", "5"][..], &FAST].concat());
    let addr = make_external(&net, 3);
    net.start_all();
    let token = std::fs::read_to_string(wait_trainer_token(&net, 3)).unwrap();
    let trainer = Trainer {
        addr,
        token: token.trim().to_string(),
    };
    let dp = DpSpend {
        sampling_rate: 0.08,
        noise_multiplier: 1.1,
        steps: 13,
    };

    // Without the token nothing is served.
    let wrong = Trainer {
        addr: trainer.addr.clone(),
        token: "0".repeat(64),
    };
    assert_eq!(wrong.get("/v1/round").0, 401);
    let (round, base, params) = trainer.open_round(0);
    let zeros = vec![0.0; params.len()];

    // The layout names the built-in model's tensors; the binary model is the JSON one.
    let (s, layout) = trainer.get("/v1/layout");
    assert_eq!(s, 200, "{layout}");
    assert_eq!(
        layout["params"].as_u64(),
        Some(params.len() as u64),
        "{layout}"
    );
    assert_eq!(layout["tensors"][0]["name"], "layer0.weight", "{layout}");
    let (s, head, raw) = http_raw(
        &trainer.addr,
        "GET",
        "/v1/model",
        &trainer.token,
        &[("Accept", "application/octet-stream")],
        b"",
    )
    .expect("reply");
    if s == 200 && head.contains(&format!("x-fedledger-round: {round}")) {
        let binary: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        // JSON carries each f32 in its shortest decimal form, which reads back exactly.
        let json: Vec<f32> = params.iter().map(|&p| p as f32).collect();
        assert_eq!(binary, json);
    }
    let meta = |r: u64| {
        let mut m = submission(r, &base, Vec::new(), &dp);
        m.as_object_mut().unwrap().remove("delta");
        m
    };
    let le = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let mut nan = vec![0.0f32; params.len()];
    nan[0] = f32::NAN;
    let binary_refused = [
        (
            "ragged bytes",
            trainer.submit_binary(&meta(round), &[0u8; 7]),
            400,
            "whole number",
        ),
        (
            "binary nan",
            trainer.submit_binary(&meta(round), &le(&nan)),
            400,
            "NaN",
        ),
        (
            "binary shape",
            trainer.submit_binary(&meta(round), &le(&nan[1..])),
            400,
            "delta",
        ),
        (
            "no header",
            trainer.submit_binary(&Value::Null, &le(&nan)),
            400,
            "not a valid submission",
        ),
    ];
    for (what, (status, body), want, says) in &binary_refused {
        assert_eq!(status, want, "{what}: {body}");
        assert!(body.contains(says), "{what}: {body}");
    }
    let refused = [
        (
            "wrong token",
            wrong.submit(&submission(round, &base, zeros.clone(), &dp)),
            401,
            "Bearer",
        ),
        (
            "inf",
            trainer.submit(&submission(
                round,
                &base,
                std::iter::once(1e39)
                    .chain(zeros[1..].iter().copied())
                    .collect(),
                &dp,
            )),
            400,
            "finite",
        ),
        (
            "shape",
            trainer.submit(&submission(round, &base, zeros[1..].to_vec(), &dp)),
            400,
            "delta",
        ),
        (
            "round",
            trainer.submit(&submission(round + 7, &base, zeros.clone(), &dp)),
            409,
            "not open",
        ),
        (
            "over the cap",
            trainer.submit(&submission(
                round,
                &base,
                zeros.clone(),
                &DpSpend {
                    sampling_rate: 1.0,
                    noise_multiplier: 0.05,
                    steps: 1000,
                },
            )),
            409,
            "over its cap",
        ),
    ];
    for (what, (status, body), want, says) in &refused {
        assert_eq!(status, want, "{what}: {body}");
        assert!(body.contains(says), "{what}: {body}");
    }

    // Good submissions: a small step of its own each round, until round 4.
    let mut accepted = Vec::new();
    let mut last = 0;
    while last < 4 {
        let (round, base, params) = trainer.open_round(last);
        let delta: Vec<f64> = params.iter().map(|p| -0.01 * p).collect();
        let (status, body) = trainer.submit(&submission(round, &base, delta, &dp));
        if status == 409 && body.contains("not open") {
            // The round closed while we computed: the next one.
            continue;
        }
        assert_eq!(status, 200, "round {round}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        accepted.push((round, v["epsilon_after"].as_f64().unwrap()));
        // One per round.
        let (again, body) = trainer.submit(&submission(round, &base, zeros.clone(), &dp));
        assert!(
            again == 409 && body.contains("already released"),
            "{again}: {body}"
        );
        last = round;
    }
    // The node's status says what its trainer did: the wrong shape, round and cap refusals above
    // (the wrong token and the unparseable 1e39 are refused before the node loop), and one second
    // submission per round.
    let status = net.status(3).expect("status of the external member's node");
    let t = &status["trainer"];
    assert_eq!(t["api"], trainer.addr.as_str(), "{status}");
    assert_eq!(
        t["accepted"].as_u64(),
        Some(accepted.len() as u64),
        "{status}"
    );
    assert!(
        t["refused"].as_u64().unwrap() >= 3 + accepted.len() as u64,
        "{status}"
    );
    net.wait_height(&[0, 1, 2, 3], 5, Duration::from_secs(90));
    let audits = net.finish_and_compare(5);
    // The ledger's spend is the node's accountant on the reported parameters, not the trainer's
    // word: every recorded spend is `dp`.
    let member = assert_spent_as_reported(&audits[0], &net.nodes[3].org, dp);
    let updates = member["updates"].as_u64().unwrap();
    assert!(updates >= 2, "{member}");
    assert!(accepted.len() as u64 >= updates, "{accepted:?} {member}");
}
