//! Timestamps written without `fmt`: RFC 3339 in UTC, byte for byte what chrono writes.
//!
//! Why: every event carries a timestamp into its frame, its host line and its row, and
//! chrono's writer goes through `fmt` one character at a time (through serde's escaping
//! adapter, for JSON): at max rate that was ~5 % of a session host's CPU.

use chrono::{Datelike, SecondsFormat, Timelike};

use crate::Timestamp;

/// How many fractional digits, as chrono's [`SecondsFormat`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fraction {
    /// None, 3, 6 or 9 digits: as few as show the value exactly (serde's form, the wire).
    AutoSi,
    /// Always 9 (fixed width, so the text sorts in time order: the store).
    Nanos,
}

/// Append `ts` as RFC 3339 with a `Z`, e.g. `2026-12-07T23:33:31.723641462Z`.
pub fn write_rfc3339(ts: &Timestamp, fraction: Fraction, out: &mut Vec<u8>) {
    let nanos = ts.nanosecond();
    let year = ts.year();
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        // Years chrono writes with a sign, and leap seconds: rare, left to chrono.
        let format = match fraction {
            Fraction::AutoSi => SecondsFormat::AutoSi,
            Fraction::Nanos => SecondsFormat::Nanos,
        };
        out.extend_from_slice(ts.to_rfc3339_opts(format, true).as_bytes());
        return;
    }
    digits(out, year as u32, 4);
    out.push(b'-');
    digits(out, ts.month(), 2);
    out.push(b'-');
    digits(out, ts.day(), 2);
    out.push(b'T');
    digits(out, ts.hour(), 2);
    out.push(b':');
    digits(out, ts.minute(), 2);
    out.push(b':');
    digits(out, ts.second(), 2);
    match fraction {
        Fraction::Nanos => {
            out.push(b'.');
            digits(out, nanos, 9);
        }
        Fraction::AutoSi if nanos == 0 => {}
        Fraction::AutoSi if nanos.is_multiple_of(1_000_000) => {
            out.push(b'.');
            digits(out, nanos / 1_000_000, 3);
        }
        Fraction::AutoSi if nanos.is_multiple_of(1_000) => {
            out.push(b'.');
            digits(out, nanos / 1_000, 6);
        }
        Fraction::AutoSi => {
            out.push(b'.');
            digits(out, nanos, 9);
        }
    }
    out.push(b'Z');
}

/// `ts` as a JSON string, as serde would write it (`"…"`, no escapes are ever needed).
pub fn write_json(ts: &Timestamp, out: &mut Vec<u8>) {
    out.push(b'"');
    write_rfc3339(ts, Fraction::AutoSi, out);
    out.push(b'"');
}

/// `value` in exactly `width` decimal digits, zero-padded (`value < 10^width`).
fn digits(out: &mut Vec<u8>, mut value: u32, width: usize) {
    let start = out.len();
    out.resize(start + width, b'0');
    for slot in out[start..].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ours(ts: &Timestamp, fraction: Fraction) -> String {
        let mut out = Vec::new();
        write_rfc3339(ts, fraction, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_exactly_what_chrono_writes() {
        // A spread of instants with every kind of fraction, from a fixed-seed LCG.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            state >> 11
        };
        for i in 0..20_000u64 {
            let secs = (next() % 253_402_300_799) as i64; // up to 9999-12-31
            let nanos = match i % 4 {
                0 => 0,
                1 => (next() % 1000) as u32 * 1_000_000,
                2 => (next() % 1_000_000) as u32 * 1_000,
                _ => (next() % 1_000_000_000) as u32,
            };
            let ts = chrono::Utc.timestamp_opt(secs, nanos).unwrap();
            assert_eq!(
                ours(&ts, Fraction::AutoSi),
                ts.to_rfc3339_opts(SecondsFormat::AutoSi, true)
            );
            assert_eq!(
                ours(&ts, Fraction::Nanos),
                ts.to_rfc3339_opts(SecondsFormat::Nanos, true)
            );
            let mut json = Vec::new();
            write_json(&ts, &mut json);
            assert_eq!(json, serde_json::to_vec(&ts).unwrap());
        }
    }

    #[test]
    fn leap_seconds_and_far_years_are_chrono_s() {
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        let far = chrono::Utc.with_ymd_and_hms(12_345, 1, 2, 3, 4, 5).unwrap();
        for ts in [leap, far] {
            assert_eq!(
                ours(&ts, Fraction::AutoSi),
                ts.to_rfc3339_opts(SecondsFormat::AutoSi, true)
            );
        }
    }
}
