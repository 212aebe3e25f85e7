//! Keeps keyed endpoint URLs out of error texts. Transport errors (reqwest, alloy) embed the
//! URL they failed on, and an RPC provider's URL often carries its API key in the path or the
//! query (`https://base-mainnet.g.alchemy.com/v2/<key>`, `…?apikey=<key>`) or userinfo. Errors
//! end up in logs, audit trails and Telegram replies, so every URL in them is cut to its scheme,
//! host and port.

/// `text` with every `scheme://…` URL replaced by `scheme://host[:port]` (no userinfo, path,
/// query or fragment); an unparsable one by `scheme://[redacted]`.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let before = rest.get(..at).unwrap_or_default();
        let scheme_len = before.chars().rev().take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')).count();
        let scheme_start = at - scheme_len; // ASCII only, so bytes = chars
        let tail = rest.get(at + 3..).unwrap_or_default();
        let url_len =
            tail.find(|c: char| c.is_whitespace() || matches!(c, ')' | '(' | '"' | '\'' | '<' | '>' | ',' | '`')).unwrap_or(tail.len());
        let end = at + 3 + url_len;
        out.push_str(rest.get(..scheme_start).unwrap_or_default());
        let candidate = rest.get(scheme_start..end).unwrap_or_default();
        let scheme = rest.get(scheme_start..at).unwrap_or_default();
        if scheme.is_empty() {
            // "://" without a scheme: not a URL we can shorten safely; drop what follows it.
            out.push_str("://[redacted]");
        } else {
            match url::Url::parse(candidate) {
                Ok(u) => {
                    out.push_str(u.scheme());
                    out.push_str("://");
                    out.push_str(u.host_str().unwrap_or("[redacted]"));
                    if let Some(port) = u.port() {
                        out.push_str(&format!(":{port}"));
                    }
                }
                Err(_) => {
                    out.push_str(scheme);
                    out.push_str("://[redacted]");
                }
            }
        }
        rest = rest.get(end..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// `e` and its sources, `": "`-joined ([`vanta_domain::error::error_chain`]). Not redacted:
/// pass it through [`redact_urls`].
pub use vanta_domain::error::error_chain;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_paths_queries_and_userinfo_are_cut() {
        assert_eq!(
            redact_urls("error sending request for url (https://base-mainnet.g.alchemy.com/v2/SECRETKEY123)"),
            "error sending request for url (https://base-mainnet.g.alchemy.com)"
        );
        assert_eq!(redact_urls("POST http://127.0.0.1:8545/?apikey=SECRET failed"), "POST http://127.0.0.1:8545 failed");
        assert_eq!(redact_urls("wss://user:pass@node.example/ws/KEY."), "wss://node.example");
        assert_eq!(redact_urls("two: https://a.example/K1 and http://b.example:81/K2"), "two: https://a.example and http://b.example:81");
        assert_eq!(redact_urls("no url here"), "no url here");
        assert!(!redact_urls("https://[bad/KEY").contains("KEY"));
    }
}
