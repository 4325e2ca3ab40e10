//! One policy hit, as a JSON line or a BIND `rpz` log line.
//!
//! The resolver fills a [`HitRecord`] with borrowed strings on the path of
//! the query and formats it once; the line then goes to a
//! [`HitLog`](crate::sink::HitLog). The client field is a [`ClientView`],
//! so a record cannot carry more of the client than the zone's policy
//! allows.
//!
//! The JSON line has a fixed field order, so lines are greppable and two
//! runs produce identical output:
//!
//! ```text
//! {"time":"2026-12-06T22:01:37.123Z","zone":"rpz.example","rule":"bad.example.rpz.example",
//!  "trigger":"QNAME","action":"NXDOMAIN","qname":"bad.example","qtype":"A",
//!  "client":"192.0.2.0","transport":"udp","rcode":"NXDOMAIN","ede":15}
//! ```
//!
//! Times are RFC 3339 in UTC with milliseconds
//! ([RFC 3339 §5.6](https://www.rfc-editor.org/rfc/rfc3339#section-5.6)),
//! formatted here without a date crate.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::client::ClientView;

/// One policy hit.
#[derive(Clone, Copy, Debug)]
pub struct HitRecord<'a> {
    /// When the hit happened.
    pub time: SystemTime,
    /// The policy zone.
    pub zone: &'a str,
    /// The rule: its owner name in the policy zone.
    pub rule: &'a str,
    /// What matched: `QNAME`, `CLIENT-IP`, `IP`, `NSDNAME` or `NSIP`.
    pub trigger: &'a str,
    /// The policy action: `NXDOMAIN`, `NODATA`, `PASSTHRU`, `DROP`,
    /// `TCP-ONLY`, `Local-Data` or `CNAME`.
    pub action: &'a str,
    /// The query name.
    pub qname: &'a str,
    /// The query type mnemonic.
    pub qtype: &'a str,
    /// The client as the zone's policy shows it.
    pub client: &'a ClientView,
    /// `udp`, `tcp`, `dot` or `doh`.
    pub transport: &'a str,
    /// The response code sent.
    pub rcode: &'a str,
    /// The extended DNS error code sent (RFC 8914), if any.
    pub ede: Option<u16>,
}

impl HitRecord<'_> {
    /// The record as one line of JSON, without the newline; `client` is
    /// left out when omitted, `ede` when there is none.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push('{');
        field(&mut out, "time", &rfc3339_millis(self.time));
        for (name, value) in [
            ("zone", self.zone),
            ("rule", self.rule),
            ("trigger", self.trigger),
            ("action", self.action),
            ("qname", self.qname),
            ("qtype", self.qtype),
        ] {
            out.push(',');
            field(&mut out, name, value);
        }
        if let Some(client) = self.client.json() {
            out.push(',');
            field(&mut out, "client", &client);
        }
        out.push(',');
        field(&mut out, "transport", self.transport);
        out.push(',');
        field(&mut out, "rcode", self.rcode);
        if let Some(ede) = self.ede {
            // Writing to a String cannot fail.
            let _ = write!(out, ",\"ede\":{ede}");
        }
        out.push('}');
        out
    }

    /// The record as BIND logs an RPZ rewrite in its `rpz` category:
    /// `client {label} ({qname}): {detail}`, where `detail` is the
    /// resolver's BIND text, e.g.
    /// `rpz QNAME NXDOMAIN rewrite bad.example/A/IN via bad.example.rpz`.
    pub fn bind_line(&self, detail: &str) -> String {
        format!(
            "client {} ({}): {}",
            self.client.bind_label(),
            self.qname,
            detail
        )
    }
}

/// Appends `"name":"value"` with `value` escaped as a JSON string.
fn field(out: &mut String, name: &str, value: &str) {
    out.push('"');
    out.push_str(name);
    out.push_str("\":");
    json_string(out, value);
}

/// Appends `s` as a JSON string (RFC 8259 §7): quotes, backslashes and
/// control characters escaped, everything else as it is.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `time` as RFC 3339 in UTC with milliseconds: `2026-12-06T22:01:37.123Z`.
/// Times before 1970 work too (a clock set wrong must not break the log).
pub(crate) fn rfc3339_millis(time: SystemTime) -> String {
    let millis: i128 = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i128,
        Err(e) => -(e.duration().as_millis() as i128),
    };
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// The proleptic Gregorian (year, month, day) of a count of days since
/// 1970-01-01, after Howard Hinnant's `civil_from_days`: shift to eras of
/// 400 years starting on 0000-03-01, so the leap day ends each year.
fn civil_from_days(days: i128) -> (i128, i128, i128) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i128::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use super::*;

    fn at(secs: u64, ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms)
    }

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(rfc3339_millis(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_millis(at(1_796_594_497, 123)),
            "2026-12-06T22:01:37.123Z"
        );
        // Leap days: 2000 (divisible by 400), 2024; 2100 is not a leap year.
        assert_eq!(
            rfc3339_millis(at(951_782_400, 0)),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_millis(at(951_868_800, 0)),
            "2000-03-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_millis(at(1_709_251_199, 999)),
            "2024-02-29T23:59:59.999Z"
        );
        assert_eq!(
            rfc3339_millis(at(1_709_251_200, 0)),
            "2024-03-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_millis(at(4_107_456_000, 0)),
            "2100-02-28T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_millis(at(4_107_542_400, 0)),
            "2100-03-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_millis(at(1_735_689_599, 0)),
            "2024-12-31T23:59:59.000Z"
        );
        assert_eq!(
            rfc3339_millis(at(1_735_689_600, 0)),
            "2025-01-01T00:00:00.000Z"
        );
        assert_eq!(
            rfc3339_millis(at(2_147_483_648, 0)),
            "2038-01-19T03:14:08.000Z"
        );
    }

    #[test]
    fn times_before_the_epoch_are_formatted_too() {
        let t = UNIX_EPOCH - Duration::from_millis(1);
        assert_eq!(rfc3339_millis(t), "1969-12-31T23:59:59.999Z");
        let t = UNIX_EPOCH - Duration::from_secs(86_400 * 365);
        assert_eq!(rfc3339_millis(t), "1969-01-01T00:00:00.000Z");
    }

    #[test]
    fn every_day_of_four_centuries_round_trips() {
        // days_from_civil, written independently, as the oracle.
        fn days_from_civil(y: i128, m: i128, d: i128) -> i128 {
            let leap = |y: i128| y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            let mut days = 0;
            for year in 1970..y {
                days += if leap(year) { 366 } else { 365 };
            }
            let lengths = [
                31,
                if leap(y) { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            days + lengths[..(m - 1) as usize].iter().sum::<i128>() + d - 1
        }
        let mut days = 0;
        for y in 1970..2370 {
            for m in 1..=12 {
                let (yy, mm, _) = civil_from_days(days);
                assert_eq!((yy, mm), (y, m));
                assert_eq!(days_from_civil(y, m, 1), days);
                let (_, _, d) = civil_from_days(days);
                assert_eq!(d, 1);
                // Jump to the next month's first day.
                let mut next = days;
                while civil_from_days(next).1 == m {
                    next += 1;
                }
                days = next;
            }
        }
    }

    fn record<'a>(client: &'a ClientView) -> HitRecord<'a> {
        HitRecord {
            time: at(1_796_594_497, 123),
            zone: "rpz.example",
            rule: "bad.example.rpz.example",
            trigger: "QNAME",
            action: "NXDOMAIN",
            qname: "bad.example",
            qtype: "A",
            client,
            transport: "udp",
            rcode: "NXDOMAIN",
            ede: Some(15),
        }
    }

    #[test]
    fn json_line_has_all_fields_in_order() {
        let ip: IpAddr = "192.0.2.0".parse().expect("literal");
        let client = ClientView::Address(ip);
        assert_eq!(
            record(&client).to_json(),
            "{\"time\":\"2026-12-06T22:01:37.123Z\",\"zone\":\"rpz.example\",\
             \"rule\":\"bad.example.rpz.example\",\"trigger\":\"QNAME\",\"action\":\"NXDOMAIN\",\
             \"qname\":\"bad.example\",\"qtype\":\"A\",\"client\":\"192.0.2.0\",\
             \"transport\":\"udp\",\"rcode\":\"NXDOMAIN\",\"ede\":15}"
        );
    }

    #[test]
    fn json_line_leaves_out_an_omitted_client_and_a_missing_ede() {
        let client = ClientView::Omitted;
        let mut r = record(&client);
        r.ede = None;
        let line = r.to_json();
        assert!(!line.contains("client"), "{line}");
        assert!(!line.contains("ede"), "{line}");
        assert!(line.ends_with("\"rcode\":\"NXDOMAIN\"}"), "{line}");
    }

    #[test]
    fn json_strings_are_escaped() {
        let client = ClientView::Pseudonym("k:0011223344556677".to_owned());
        let mut r = record(&client);
        r.qname = "we\"ird\\na\nme\u{1}.example";
        let line = r.to_json();
        assert!(
            line.contains(r#""qname":"we\"ird\\na\nme\u0001.example""#),
            "{line}"
        );
        assert!(line.contains(r#""client":"k:0011223344556677""#), "{line}");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn bind_line_has_the_client_label_and_the_qname() {
        let ip: IpAddr = "10.0.0.0".parse().expect("literal");
        let client = ClientView::Address(ip);
        let detail = "rpz QNAME NXDOMAIN rewrite bad.example/A/IN via bad.example.rpz";
        assert_eq!(
            record(&client).bind_line(detail),
            format!("client 10.0.0.0#0 (bad.example): {detail}")
        );
        let omitted = ClientView::Omitted;
        assert_eq!(record(&omitted).bind_line("x"), "client - (bad.example): x");
    }
}
