//! A small, strict Well-Known Text reader producing GeoJSON geometry values.
//!
//! Accepted: `POINT`, `LINESTRING`, `POLYGON`, `MULTIPOINT` (members with or without
//! their own parentheses), `MULTILINESTRING`, `MULTIPOLYGON`, `GEOMETRYCOLLECTION`
//! (nested up to 16 deep); keywords in any case; 2D, implicit 3D (three numbers) or
//! an explicit `Z`; `EMPTY` for a whole geometry (and for collection members).
//! Every position of one geometry has the same number of coordinates. Polygon rings
//! need four or more positions and must be closed; linestrings need two or more.
//! Refused: `M`/`ZM` coordinates (GeoJSON has no measure), EWKT `SRID=...;`
//! prefixes, non-finite numbers, anything after the geometry.

use super::geojson::{self, line_value, position_value, ring_value, Position, Reason};
use super::spec::GeometryKind;
use super::Value;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Num(f64),
    Open,
    Close,
    Comma,
    End,
}

struct Lexer<'a> {
    s: &'a str,
    pos: usize,
    peeked: Option<(Token, usize)>,
}

impl Lexer<'_> {
    fn lex(&mut self) -> Result<(Token, usize), Reason> {
        let bytes = self.s.as_bytes();
        while self.pos < bytes.len() && bytes[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&b) = bytes.get(self.pos) else {
            return Ok((Token::End, start));
        };
        let tok = match b {
            b'(' => {
                self.pos += 1;
                Token::Open
            }
            b')' => {
                self.pos += 1;
                Token::Close
            }
            b',' => {
                self.pos += 1;
                Token::Comma
            }
            b if b.is_ascii_alphabetic() => {
                while self.pos < bytes.len() && bytes[self.pos].is_ascii_alphanumeric() {
                    self.pos += 1;
                }
                Token::Word(self.s[start..self.pos].to_ascii_uppercase())
            }
            b'0'..=b'9' | b'-' | b'+' | b'.' => {
                while self.pos < bytes.len()
                    && matches!(
                        bytes[self.pos],
                        b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'
                    )
                {
                    self.pos += 1;
                }
                let text = &self.s[start..self.pos];
                match text.parse::<f64>() {
                    Ok(f) if f.is_finite() => Token::Num(f),
                    _ => return Err(format!("bad number '{text}' at offset {start}")),
                }
            }
            _ => {
                let c = self.s[start..].chars().next().unwrap_or('?');
                return Err(format!("unexpected '{c}' at offset {start}"));
            }
        };
        Ok((tok, start))
    }

    fn next(&mut self) -> Result<(Token, usize), Reason> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex(),
        }
    }

    fn peek(&mut self) -> Result<&Token, Reason> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lex()?);
        }
        Ok(&self.peeked.as_ref().expect("peeked").0)
    }

    fn expect(&mut self, want: Token, what: &str) -> Result<(), Reason> {
        let (t, at) = self.next()?;
        if t == want {
            Ok(())
        } else {
            Err(format!("expected {what} at offset {at}"))
        }
    }
}

struct Reader<'a> {
    lex: Lexer<'a>,
    /// Coordinates per position in the current geometry (2 or 3), once known.
    dims: Option<usize>,
}

impl Reader<'_> {
    fn position(&mut self) -> Result<Position, Reason> {
        let mut p = Vec::with_capacity(3);
        while let &Token::Num(f) = self.lex.peek()? {
            self.lex.next()?;
            p.push(f);
        }
        let at = self.lex.peeked.as_ref().map_or(self.lex.pos, |t| t.1);
        if !(2..=3).contains(&p.len()) {
            return Err(format!("a position needs 2 or 3 numbers at offset {at}"));
        }
        match self.dims {
            None => self.dims = Some(p.len()),
            Some(d) if d != p.len() => {
                return Err(format!(
                    "mixed coordinate dimensions ({d} then {}) at offset {at}",
                    p.len()
                ))
            }
            Some(_) => {}
        }
        Ok(p)
    }

    /// `(` item (`,` item)* `)`
    fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, Reason>,
    ) -> Result<Vec<T>, Reason> {
        self.lex.expect(Token::Open, "'('")?;
        let mut out = vec![item(self)?];
        loop {
            match self.lex.next()? {
                (Token::Comma, _) => out.push(item(self)?),
                (Token::Close, _) => return Ok(out),
                (_, at) => return Err(format!("expected ',' or ')' at offset {at}")),
            }
        }
    }

    fn positions(&mut self) -> Result<Vec<Position>, Reason> {
        self.list(Self::position)
    }

    fn polygon(&mut self) -> Result<Value, Reason> {
        let mut i = 0;
        let rings = self.list(|r| {
            let what = format!("Polygon ring {i}");
            i += 1;
            ring_value(r.positions()?, &what)
        })?;
        Ok(Value::List(rings))
    }

    fn geometry(&mut self, depth: usize) -> Result<Value, Reason> {
        let (kind, at) = match self.lex.next()? {
            (Token::Word(w), at) => match GeometryKind::from_name_ignore_case(&w) {
                Some(k) => (k, at),
                None if w == "SRID" => {
                    return Err("EWKT 'SRID=...;' prefixes are not supported".into())
                }
                None => return Err(format!("unknown geometry type '{w}' at offset {at}")),
            },
            (_, at) => return Err(format!("expected a geometry type at offset {at}")),
        };
        let mut explicit_z = false;
        if let Token::Word(w) = self.lex.peek()? {
            match w.as_str() {
                "Z" => {
                    explicit_z = true;
                    self.lex.next()?;
                }
                "M" | "ZM" => return Err("M coordinates are not supported".into()),
                _ => {}
            }
        }
        let outer_dims = self.dims;
        self.dims = if explicit_z { Some(3) } else { None };
        if let Token::Word(w) = self.lex.peek()? {
            if w == "EMPTY" {
                self.lex.next()?;
                self.dims = outer_dims;
                return Ok(geojson::geometry_value(kind, Value::List(vec![])));
            }
            return Err(format!(
                "expected '(' or EMPTY after the geometry type at offset {at}"
            ));
        }
        let coords = match kind {
            GeometryKind::Point => {
                self.lex.expect(Token::Open, "'('")?;
                let p = self.position()?;
                self.lex.expect(Token::Close, "')'")?;
                position_value(p)
            }
            GeometryKind::LineString => line_value(self.positions()?, "LineString")?,
            GeometryKind::Polygon => self.polygon()?,
            GeometryKind::MultiPoint => {
                let points = self.list(|r| {
                    if *r.lex.peek()? == Token::Open {
                        r.lex.next()?;
                        let p = r.position()?;
                        r.lex.expect(Token::Close, "')'")?;
                        Ok(p)
                    } else {
                        r.position()
                    }
                })?;
                Value::List(points.into_iter().map(position_value).collect())
            }
            GeometryKind::MultiLineString => {
                let mut i = 0;
                Value::List(self.list(|r| {
                    let what = format!("MultiLineString member {i}");
                    i += 1;
                    line_value(r.positions()?, &what)
                })?)
            }
            GeometryKind::MultiPolygon => Value::List(self.list(Self::polygon)?),
            GeometryKind::GeometryCollection => {
                if depth >= geojson::MAX_GEOMETRY_DEPTH {
                    return Err(format!(
                        "GeometryCollection nested deeper than {}",
                        geojson::MAX_GEOMETRY_DEPTH
                    ));
                }
                Value::List(self.list(|r| {
                    let saved = r.dims.take();
                    let g = r.geometry(depth + 1);
                    r.dims = saved;
                    g
                })?)
            }
        };
        self.dims = outer_dims;
        Ok(geojson::geometry_value(kind, coords))
    }
}

/// Parse one WKT geometry into a GeoJSON geometry value, with its kind.
pub fn parse(text: &str) -> Result<(GeometryKind, Value), Reason> {
    let mut r = Reader {
        lex: Lexer {
            s: text,
            pos: 0,
            peeked: None,
        },
        dims: None,
    };
    let g = r.geometry(0)?;
    match r.lex.next()? {
        (Token::End, _) => {}
        (_, at) => return Err(format!("unexpected text after the geometry at offset {at}")),
    }
    let kind = match &g {
        Value::Dict(m) => match &m[0].1 {
            Value::Str(t) => GeometryKind::from_geojson(t).expect("we wrote it"),
            _ => unreachable!("geometry_value writes the type first"),
        },
        _ => unreachable!("geometry_value returns a dict"),
    };
    Ok((kind, g))
}
