//! The model: a logistic regression over the rules' signals, `score = 1000 / (1 + e^-(bias + Σ
//! weight × signal))`, and the thresholds that turn a score into a decision. Weights, thresholds
//! and the rules' parameters are one versioned file under `models/`, compiled in: a deployed
//! binary carries every version and `FRAUD_MODEL_VERSION` picks one. An unknown version, or a
//! file that does not weigh exactly the signals the rules compute, refuses to start.
use crate::signals::{NAMES, RuleParams, Signal};
use domain::events::FraudDecision;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Every model version in the repository, by version.
pub const MODELS: [(&str, &str); 1] = [("v1", include_str!("../models/v1.json"))];
/// The version used when `FRAUD_MODEL_VERSION` is not set.
pub const DEFAULT_VERSION: &str = "v1";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub version: String,
    #[serde(default)]
    pub description: String,
    pub bias: f64,
    pub weights: BTreeMap<String, f64>,
    pub thresholds: Thresholds,
    pub rules: RuleParams,
}

/// A score at or above `review` is held for review; at or above `reject`, rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub review: u16,
    pub reject: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("FRAUD_MODEL_VERSION {0:?} is not a model in this build; known: {known}", known = known())]
    UnknownVersion(String),
    #[error("model {version}: {problem}")]
    Invalid { version: String, problem: String },
}

fn known() -> String {
    MODELS.iter().map(|(v, _)| *v).collect::<Vec<_>>().join(", ")
}

/// The model's answer for one order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub score: u16,
    pub decision: FraudDecision,
    pub reasons: Vec<String>,
}

impl Model {
    /// The checked-in model of that version (the default one for None).
    pub fn select(version: Option<&str>) -> Result<Model, ModelError> {
        let version = version.unwrap_or(DEFAULT_VERSION);
        let (_, text) = MODELS
            .iter()
            .find(|(v, _)| *v == version)
            .ok_or_else(|| ModelError::UnknownVersion(version.to_string()))?;
        Model::parse(version, text)
    }

    /// Parses and checks a model file: its version is the one it is filed under, it weighs
    /// every signal and nothing else, and its thresholds are ordered within 0–1000.
    pub fn parse(version: &str, text: &str) -> Result<Model, ModelError> {
        let invalid = |problem: String| ModelError::Invalid { version: version.to_string(), problem };
        let model: Model = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if model.version != version {
            return Err(invalid(format!("the file says version {:?}", model.version)));
        }
        let missing: Vec<&str> = NAMES.iter().copied().filter(|n| !model.weights.contains_key(*n)).collect();
        let unknown: Vec<&str> = model.weights.keys().map(String::as_str).filter(|k| !NAMES.contains(k)).collect();
        if !missing.is_empty() || !unknown.is_empty() {
            return Err(invalid(format!("weights missing for {missing:?}, weights for unknown signals {unknown:?}")));
        }
        if model.weights.values().chain([&model.bias]).any(|w| !w.is_finite()) {
            return Err(invalid("weights and bias must be finite numbers".into()));
        }
        let Thresholds { review, reject } = model.thresholds;
        if !(review <= reject && reject <= 1000) {
            return Err(invalid(format!("thresholds must be review <= reject <= 1000, not {review} and {reject}")));
        }
        Ok(model)
    }

    /// Weighs the signals. Reasons name every signal that added to the score and every input
    /// that was absent (which adds 0), in the rules' order; a signal at 0 is not a reason.
    pub fn score(&self, signals: &[Signal]) -> Verdict {
        let mut z = self.bias;
        let mut reasons = Vec::new();
        for s in signals {
            let weight = self.weights.get(s.name).copied().unwrap_or(0.0);
            match s.value {
                None => reasons.push(format!("{}: {}, contributes 0", s.name, s.detail)),
                Some(x) => {
                    let contribution = weight * x;
                    z += contribution;
                    if contribution != 0.0 {
                        reasons.push(format!("{}: {} ({contribution:+.2})", s.name, s.detail));
                    }
                }
            }
        }
        let score = (1000.0 / (1.0 + (-z).exp())).round().clamp(0.0, 1000.0) as u16;
        let decision = if score >= self.thresholds.reject {
            FraudDecision::Reject
        } else if score >= self.thresholds.review {
            FraudDecision::Review
        } else {
            FraudDecision::Approve
        };
        Verdict { score, decision, reasons }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(name: &'static str, value: Option<f64>) -> Signal {
        Signal { name, value, detail: "seen".into() }
    }

    #[test]
    fn every_checked_in_model_is_valid_and_the_default_is_one_of_them() {
        for (version, text) in MODELS {
            Model::parse(version, text).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(Model::select(None).map(|m| m.version), Ok(DEFAULT_VERSION.to_string()));
    }

    #[test]
    fn an_unknown_version_is_refused_by_name() {
        let err = Model::select(Some("v0-experimental")).unwrap_err().to_string();
        assert_eq!(err, "FRAUD_MODEL_VERSION \"v0-experimental\" is not a model in this build; known: v1");
    }

    #[test]
    fn a_model_that_does_not_weigh_exactly_the_rules_signals_is_refused() {
        let (_, text) = MODELS[0];
        let mut v: serde_json::Value = serde_json::from_str(text).expect("json");
        v["weights"].as_object_mut().expect("weights").remove("card_velocity");
        v["weights"]["shoe_size"] = 1.0.into();
        let err = Model::parse("v1", &v.to_string()).unwrap_err().to_string();
        assert!(err.contains(r#"missing for ["card_velocity"]"#) && err.contains(r#"["shoe_size"]"#), "{err}");
        v = serde_json::from_str(text).expect("json");
        v["thresholds"]["review"] = 900.into();
        assert!(Model::parse("v1", &v.to_string()).unwrap_err().to_string().contains("review <= reject"));
        assert!(Model::parse("v2", text).unwrap_err().to_string().contains("the file says version \"v1\""));
    }

    #[test]
    fn the_score_is_the_logistic_of_the_weighted_sum_and_thresholds_decide() {
        let model = Model::select(Some("v1")).expect("v1");
        let quiet: Vec<Signal> = NAMES.iter().map(|n| signal(n, Some(0.0))).collect();
        let v = model.score(&quiet);
        let expected = (1000.0 / (1.0 + (-model.bias).exp())).round() as u16;
        assert_eq!((v.score, v.decision, v.reasons.len()), (expected, FraudDecision::Approve, 0));

        let one_strong = [signal("bin_country_mismatch", Some(1.0))];
        let v = model.score(&one_strong);
        assert_eq!(v.decision, FraudDecision::Review, "score {}", v.score);
        assert_eq!(v.reasons, ["bin_country_mismatch: seen (+1.60)"]);
        let two_strong = [signal("bin_country_mismatch", Some(1.0)), signal("new_account", Some(1.0))];
        assert_eq!(model.score(&two_strong).decision, FraudDecision::Reject);
    }

    #[test]
    fn an_absent_input_adds_nothing_and_says_so() {
        let model = Model::select(None).expect("default");
        let v = model.score(&[signal("new_account", None)]);
        assert_eq!(v.score, model.score(&[]).score);
        assert_eq!(v.reasons, ["new_account: seen, contributes 0"]);
    }
}
