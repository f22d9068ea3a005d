//! Request parameters as received, before they are parsed into typed requests.
//! RFC 6749 3.1 / 3.2: "Request and response parameters MUST NOT be included more than once",
//! and parameters sent without a value are treated as omitted.
use std::collections::HashMap;

/// Upper bound for any single parameter value we accept.
pub const MAX_PARAM_LEN: usize = 4096;

#[derive(Debug, Clone, Default)]
pub struct Params {
    values: HashMap<String, String>,
    duplicated: Vec<String>,
    oversized: Vec<String>,
}

impl Params {
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut p = Params::default();
        for (k, v) in pairs {
            if v.is_empty() {
                continue;
            }
            if v.len() > MAX_PARAM_LEN && !p.oversized.contains(&k) {
                p.oversized.push(k.clone());
            }
            match p.values.entry(k) {
                std::collections::hash_map::Entry::Occupied(e) => {
                    if !p.duplicated.contains(e.key()) {
                        p.duplicated.push(e.key().clone());
                    }
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        p
    }

    /// Every parameter (first value of each), in no particular order.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn is_duplicated(&self, key: &str) -> bool {
        self.duplicated.iter().any(|d| d == key)
    }

    /// The first duplicated or oversized parameter, if any — an `invalid_request`.
    pub fn first_malformed(&self) -> Option<String> {
        if let Some(d) = self.duplicated.first() {
            return Some(format!("parameter {d} is included more than once"));
        }
        self.oversized
            .first()
            .map(|o| format!("parameter {o} is too long"))
    }
}

/// `base` with `params` appended to its query (form-urlencoded).
pub fn with_query(base: &str, params: &[(String, String)]) -> String {
    let mut url = base.to_string();
    for (i, (k, v)) in params.iter().enumerate() {
        let sep = if i == 0 && !base.contains('?') {
            '?'
        } else {
            '&'
        };
        url.push(sep);
        url.push_str(&url_encode(k));
        url.push('=');
        url.push_str(&url_encode(v));
    }
    url
}

/// application/x-www-form-urlencoded encoding of one component.
fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn empty_values_are_omitted_and_duplicates_flagged() {
        let p = Params::from_pairs(pairs(&[("a", "1"), ("b", ""), ("a", "2")]));
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert!(p.is_duplicated("a"));
        assert_eq!(
            p.first_malformed().unwrap(),
            "parameter a is included more than once"
        );
    }

    #[test]
    fn state_is_appended_with_the_right_separator() {
        let s = vec![("state".to_string(), "a b&c".to_string())];
        assert_eq!(
            with_query("https://rp.example/bye", &s),
            "https://rp.example/bye?state=a+b%26c"
        );
        assert_eq!(
            with_query("https://rp.example/bye?x=1", &s),
            "https://rp.example/bye?x=1&state=a+b%26c"
        );
        assert_eq!(
            with_query("https://rp.example/bye", &[]),
            "https://rp.example/bye"
        );
    }

    #[test]
    fn oversized_values_are_flagged() {
        let long = "x".repeat(MAX_PARAM_LEN + 1);
        let p = Params::from_pairs(pairs(&[("state", &long)]));
        assert!(p.first_malformed().unwrap().contains("state"));
    }
}
