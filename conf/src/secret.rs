//! TSIG key secrets: a redacting newtype and the key-file reader.
//!
//! A secret is read once at load time and then only handed to the TSIG signer. Its `Debug`
//! and `Display` print `<redacted>`, so a `{:?}` of the whole [`Config`](crate::Config) in a
//! log line or a `sekishoctl status` dump never leaks it.
//!
//! Key files hold the base64 secret, either alone (as `tsig-keygen | grep secret` users
//! often keep it) or inside a BIND `key` statement as written by `tsig-keygen`:
//!
//! ```text
//! key "block-tsig-key" {
//!         algorithm hmac-sha256;
//!         secret "kEQmvNmBcvf6CuGZSYyr7GAfKEOFNEE3Lhm7Cxx6MRo=";
//! };
//! ```

use std::fmt;

/// A TSIG shared secret (the decoded key bytes). Prints as `<redacted>`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps raw key bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }

    /// The raw key bytes, for the TSIG signer only.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Decodes a secret written in base64 (RFC 4648, padding optional, whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = decode_base64(text)?;
        if bytes.is_empty() {
            return Err("the secret is empty".into());
        }
        Ok(Secret(bytes))
    }

    /// Decodes the content of a key file: a bare base64 secret, or a BIND `key { ... }`
    /// statement whose `secret "..."` is used.
    pub(crate) fn from_key_file(content: &str) -> Result<Self, String> {
        match bind_secret(content) {
            Some(inner) => Self::from_base64(inner),
            None => Self::from_base64(content),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Finds the quoted value of a `secret "..."` clause in a BIND key statement.
fn bind_secret(content: &str) -> Option<&str> {
    let at = content.find("secret")?;
    let rest = &content[at + "secret".len()..];
    let open = rest.find('"')?;
    // Only whitespace may stand between the word and the opening quote.
    if !rest[..open].trim().is_empty() {
        return None;
    }
    let rest = &rest[open + 1..];
    let close = rest.find('"')?;
    Some(&rest[..close])
}

/// Decodes standard base64 (RFC 4648 section 4) with `data-encoding`. Whitespace anywhere
/// is skipped, so wrapped key files work; padding is optional but, if present, must be at
/// the end (BIND writes it, some tools do not).
fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let padding = compact.iter().rev().take_while(|&&b| b == b'=').count();
    if padding > 2 {
        return Err("not valid base64: wrong length".into());
    }
    let body = &compact[..compact.len() - padding];
    // Name a bad character before a length problem (the decoder checks length first).
    if let Some(&bad) = body
        .iter()
        .find(|&&b| !(b.is_ascii_alphanumeric() || b == b'+' || b == b'/'))
    {
        return Err(if bad == b'=' {
            "not valid base64: data after `=` padding".to_owned()
        } else {
            format!(
                "not valid base64: unexpected character `{}`",
                char::from(bad).escape_default()
            )
        });
    }
    data_encoding::BASE64_NOPAD.decode(body).map_err(|e| {
        use data_encoding::DecodeKind;
        match e.kind {
            DecodeKind::Trailing => "not valid base64: non-zero trailing bits".to_owned(),
            _ => "not valid base64: wrong length".to_owned(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_rfc4648_test_vectors() {
        // RFC 4648 section 10.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(decode_base64(encoded).as_deref(), Ok(plain.as_bytes()));
        }
    }

    #[test]
    fn base64_accepts_missing_padding_and_whitespace() {
        assert_eq!(decode_base64("Zm9v\nYg").as_deref(), Ok(&b"foob"[..]));
        assert_eq!(decode_base64(" Zm8=\n").as_deref(), Ok(&b"fo"[..]));
    }

    #[test]
    fn base64_rejects_bad_characters_lengths_and_padding() {
        assert!(decode_base64("Zm9v!")
            .unwrap_err()
            .contains("unexpected character"));
        assert!(decode_base64("Z").unwrap_err().contains("wrong length"));
        assert!(decode_base64("Zg==Zg==").unwrap_err().contains("after `=`"));
        assert!(decode_base64("Zh==").unwrap_err().contains("trailing bits"));
        assert!(decode_base64("Zg===").is_err());
    }

    #[test]
    fn key_files_may_hold_a_bind_key_statement() {
        let file = "key \"k\" {\n\talgorithm hmac-sha256;\n\tsecret \"Zm9vYmFy\";\n};\n";
        assert_eq!(Secret::from_key_file(file).unwrap().as_bytes(), b"foobar");
        assert_eq!(
            Secret::from_key_file("Zm9vYmFy\n").unwrap().as_bytes(),
            b"foobar"
        );
    }

    #[test]
    fn an_empty_secret_is_rejected() {
        assert!(Secret::from_base64("  \n").unwrap_err().contains("empty"));
    }

    #[test]
    fn secrets_print_redacted() {
        let secret = Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(secret.to_string(), "<redacted>");
    }
}
