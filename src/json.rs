//! A strict reader for the flat JSON objects the HTTP gateway accepts
//! (`{"key": "hex", "time": 123, ...}`): string and unsigned integer values
//! only, no nesting, no duplicate keys, nothing after the object. Anything
//! else is refused with a message saying where.

use std::collections::BTreeMap;

/// A value in a flat object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string (escapes decoded).
    Str(String),
    /// A non-negative integer.
    Num(u64),
}

/// Parses a flat object.
pub fn parse_object(s: &str) -> Result<BTreeMap<String, Value>, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let ws = |i: &mut usize| {
        while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\n' | b'\r') {
            *i += 1;
        }
    };
    let mut out = BTreeMap::new();
    ws(&mut i);
    if b.get(i) != Some(&b'{') {
        return Err("expected a JSON object".into());
    }
    i += 1;
    ws(&mut i);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            ws(&mut i);
            let key = string(b, &mut i)?;
            ws(&mut i);
            if b.get(i) != Some(&b':') {
                return Err(format!("expected ':' after \"{key}\""));
            }
            i += 1;
            ws(&mut i);
            let v = match b.get(i) {
                Some(b'"') => Value::Str(string(b, &mut i)?),
                Some(c) if c.is_ascii_digit() => {
                    let start = i;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    let n = s[start..i]
                        .parse()
                        .map_err(|_| format!("\"{key}\": number out of range"))?;
                    Value::Num(n)
                }
                _ => {
                    return Err(format!(
                        "\"{key}\": values must be strings or non-negative integers"
                    ))
                }
            };
            if out.insert(key.clone(), v).is_some() {
                return Err(format!("\"{key}\" appears twice"));
            }
            ws(&mut i);
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return Err(format!("expected ',' or '}}' after \"{key}\"")),
            }
        }
    }
    ws(&mut i);
    if i != b.len() {
        return Err("unexpected text after the object".into());
    }
    Ok(out)
}

fn string(b: &[u8], i: &mut usize) -> Result<String, String> {
    if b.get(*i) != Some(&b'"') {
        return Err("expected a string".into());
    }
    *i += 1;
    let mut out = String::new();
    loop {
        let c = *b.get(*i).ok_or("unterminated string")?;
        *i += 1;
        match c {
            b'"' => return Ok(out),
            b'\\' => {
                let e = *b.get(*i).ok_or("unterminated escape")?;
                *i += 1;
                match e {
                    b'"' => out.push('"'),
                    b'\\' => out.push('\\'),
                    b'/' => out.push('/'),
                    b'n' => out.push('\n'),
                    b't' => out.push('\t'),
                    b'r' => out.push('\r'),
                    b'b' => out.push('\u{8}'),
                    b'f' => out.push('\u{c}'),
                    b'u' => {
                        let h = b.get(*i..*i + 4).ok_or("short \\u escape")?;
                        let h = std::str::from_utf8(h).map_err(|_| "bad \\u escape")?;
                        let cp = u32::from_str_radix(h, 16).map_err(|_| "bad \\u escape")?;
                        *i += 4;
                        out.push(char::from_u32(cp).ok_or(
                            "\\u escape is not a character (surrogates are not accepted)",
                        )?);
                    }
                    _ => return Err("unknown escape".into()),
                }
            }
            c if c < 0x20 => return Err("control character in a string".into()),
            _ => {
                // Copy the whole UTF-8 sequence (the input is a &str, so it is valid).
                let start = *i - 1;
                let mut end = *i;
                while end < b.len() && b[end] & 0xc0 == 0x80 {
                    end += 1;
                }
                out.push_str(std::str::from_utf8(&b[start..end]).map_err(|_| "bad UTF-8")?);
                *i = end;
            }
        }
    }
}

/// Escapes a string for JSON output.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_objects_only() {
        let o = parse_object(r#" {"a": "x\"y\u00e9", "n": 42 , "e":""} "#).unwrap();
        assert_eq!(o["a"], Value::Str("x\"yé".into()));
        assert_eq!(o["n"], Value::Num(42));
        assert_eq!(parse_object("{}").unwrap().len(), 0);
        for bad in [
            "",
            "[]",
            "{",
            r#"{"a":1,}"#,
            r#"{"a":-1}"#,
            r#"{"a":1.5}"#,
            r#"{"a":{"b":1}}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a":1} x"#,
            r#"{"a":"\ud800"}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":true}"#,
            r#"{"a":99999999999999999999999}"#,
        ] {
            assert!(parse_object(bad).is_err(), "accepted {bad:?}");
        }
        assert_eq!(escape("a\"b\\\n\u{1}"), "a\\\"b\\\\\\n\\u0001");
    }
}
