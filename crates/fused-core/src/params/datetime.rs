//! A small, strict ISO 8601 reader for `date` and `datetime` parameters.
//!
//! * date: `YYYY-MM-DD` (year 0001-9999, the range of Python's `datetime`).
//! * datetime: a date alone (midnight, naive), or
//!   `YYYY-MM-DD(T|t| )HH:MM[:SS[(.|,)f...]][Z|z|±HH:MM|±HHMM|±HH]`.
//!   Fractions take 1 to 9 digits; digits past the sixth are dropped (Python keeps
//!   microseconds). Hours run 00-23 (`24:00` is refused), seconds 00-59 (no leap
//!   second), offsets up to ±23:59. Without an offset the value is naive.
//!
//! Basic format (`20240101`), week and ordinal dates are not accepted.

/// A calendar date, validated (month lengths, leap years).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

/// A date and time of day, optionally with a UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub microsecond: u32,
    /// Seconds east of UTC (`Z` is `Some(0)`); `None` for a naive value.
    pub offset_seconds: Option<i32>,
}

/// Why a value was refused; shown after the expected type.
pub type Reason = &'static str;

pub fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

pub fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        _ => 28,
    }
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize, what: Reason) -> Result<u32, Reason> {
        let end = self.pos + n;
        if end > self.s.len() || !self.s[self.pos..end].iter().all(u8::is_ascii_digit) {
            return Err(what);
        }
        let v = self.s[self.pos..end]
            .iter()
            .fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'));
        self.pos = end;
        Ok(v)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, b: u8, what: Reason) -> Result<(), Reason> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(what)
        }
    }

    fn done(&self) -> bool {
        self.pos == self.s.len()
    }
}

const FORMAT_DATE: Reason = "format YYYY-MM-DD";
const FORMAT_TIME: Reason = "format YYYY-MM-DDTHH:MM[:SS[.ffffff]][Z|+HH:MM]";

fn date_at(c: &mut Cursor<'_>) -> Result<Date, Reason> {
    let year = c.digits(4, FORMAT_DATE)?;
    c.expect(b'-', FORMAT_DATE)?;
    let month = c.digits(2, FORMAT_DATE)?;
    c.expect(b'-', FORMAT_DATE)?;
    let day = c.digits(2, FORMAT_DATE)?;
    if year == 0 {
        return Err("year must be 0001-9999");
    }
    if !(1..=12).contains(&month) {
        return Err("month must be 01-12");
    }
    let (year, month, day) = (year as u16, month as u8, day as u8);
    if day == 0 || day > days_in_month(year, month) {
        return Err("day out of range for the month");
    }
    Ok(Date { year, month, day })
}

/// Parse `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<Date, Reason> {
    let mut c = Cursor {
        s: s.as_bytes(),
        pos: 0,
    };
    let d = date_at(&mut c)?;
    if !c.done() {
        return Err(FORMAT_DATE);
    }
    Ok(d)
}

/// Parse an ISO 8601 date-time (or a date alone, meaning midnight).
pub fn parse_datetime(s: &str) -> Result<DateTime, Reason> {
    let mut c = Cursor {
        s: s.as_bytes(),
        pos: 0,
    };
    let date = date_at(&mut c)?;
    let mut dt = DateTime {
        date,
        hour: 0,
        minute: 0,
        second: 0,
        microsecond: 0,
        offset_seconds: None,
    };
    if c.done() {
        return Ok(dt);
    }
    match c.peek() {
        Some(b'T' | b't' | b' ') => c.pos += 1,
        _ => return Err(FORMAT_TIME),
    }
    let hour = c.digits(2, FORMAT_TIME)?;
    c.expect(b':', FORMAT_TIME)?;
    let minute = c.digits(2, FORMAT_TIME)?;
    let mut second = 0;
    if c.peek() == Some(b':') {
        c.pos += 1;
        second = c.digits(2, FORMAT_TIME)?;
        if matches!(c.peek(), Some(b'.' | b',')) {
            c.pos += 1;
            let start = c.pos;
            let mut micro = 0u32;
            while let Some(b) = c.peek().filter(u8::is_ascii_digit) {
                let n = c.pos - start;
                if n >= 9 {
                    return Err("at most 9 fraction digits");
                }
                if n < 6 {
                    micro = micro * 10 + u32::from(b - b'0');
                }
                c.pos += 1;
            }
            let n = c.pos - start;
            if n == 0 {
                return Err(FORMAT_TIME);
            }
            for _ in n..6 {
                micro *= 10;
            }
            dt.microsecond = micro;
        }
    }
    if hour > 23 {
        return Err("hour must be 00-23");
    }
    if minute > 59 {
        return Err("minute must be 00-59");
    }
    if second > 59 {
        return Err("second must be 00-59");
    }
    dt.hour = hour as u8;
    dt.minute = minute as u8;
    dt.second = second as u8;
    match c.peek() {
        None => {}
        Some(b'Z' | b'z') => {
            c.pos += 1;
            dt.offset_seconds = Some(0);
        }
        Some(sign @ (b'+' | b'-')) => {
            c.pos += 1;
            let oh = c.digits(2, FORMAT_TIME)?;
            let om = if c.done() {
                0
            } else {
                if c.peek() == Some(b':') {
                    c.pos += 1;
                }
                c.digits(2, FORMAT_TIME)?
            };
            if oh > 23 || om > 59 {
                return Err("UTC offset must be within ±23:59");
            }
            let secs = (oh * 3600 + om * 60) as i32;
            dt.offset_seconds = Some(if sign == b'-' { -secs } else { secs });
        }
        Some(_) => return Err(FORMAT_TIME),
    }
    if !c.done() {
        return Err(FORMAT_TIME);
    }
    Ok(dt)
}
