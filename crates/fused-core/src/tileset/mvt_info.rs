//! What an MVT tile holds: its layers, their feature counts and their fields with types, as
//! TileJSON's `vector_layers` describes them. A small protobuf reader (the MVT 2.1 messages
//! are four: tile, layer, feature, value); unknown fields are skipped.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// One layer of a tile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    pub name: String,
    pub features: u64,
    /// Field name -> `"String"`, `"Number"`, `"Boolean"` or `"Mixed"` (several types).
    pub fields: BTreeMap<String, String>,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn bad() -> Error {
    Error::invalid("tile", "a Mapbox Vector Tile (protobuf)", "malformed bytes")
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or_else(bad)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(bad())
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = usize::try_from(self.varint()?).map_err(|_| bad())?;
        let end = self.pos.checked_add(len).ok_or_else(bad)?;
        let out = self.buf.get(self.pos..end).ok_or_else(bad)?;
        self.pos = end;
        Ok(out)
    }

    /// (field number, wire type).
    fn key(&mut self) -> Result<(u64, u8)> {
        let k = self.varint()?;
        Ok((k >> 3, (k & 7) as u8))
    }

    fn skip(&mut self, wire: u8) -> Result<()> {
        let n = match wire {
            0 => {
                self.varint()?;
                return Ok(());
            }
            1 => 8,
            2 => {
                self.bytes()?;
                return Ok(());
            }
            5 => 4,
            _ => return Err(bad()),
        };
        self.pos = self
            .pos
            .checked_add(n)
            .filter(|&p| p <= self.buf.len())
            .ok_or_else(bad)?;
        Ok(())
    }
}

fn value_type(buf: &[u8]) -> Result<&'static str> {
    let mut r = Reader::new(buf);
    let mut kind = "String";
    while !r.done() {
        let (field, wire) = r.key()?;
        kind = match field {
            1 => "String",
            2..=6 => "Number",
            7 => "Boolean",
            _ => kind,
        };
        r.skip(wire)?;
    }
    Ok(kind)
}

fn layer(buf: &[u8]) -> Result<LayerInfo> {
    let mut r = Reader::new(buf);
    let mut name = String::new();
    let mut keys: Vec<String> = Vec::new();
    let mut values: Vec<&'static str> = Vec::new();
    let mut features: Vec<&[u8]> = Vec::new();
    while !r.done() {
        match r.key()? {
            (1, 2) => name = String::from_utf8_lossy(r.bytes()?).into_owned(),
            (2, 2) => features.push(r.bytes()?),
            (3, 2) => keys.push(String::from_utf8_lossy(r.bytes()?).into_owned()),
            (4, 2) => values.push(value_type(r.bytes()?)?),
            (_, wire) => r.skip(wire)?,
        }
    }
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    for f in &features {
        let mut fr = Reader::new(f);
        while !fr.done() {
            match fr.key()? {
                (2, 2) => {
                    let mut tags = Reader::new(fr.bytes()?);
                    while !tags.done() {
                        let k = tags.varint()? as usize;
                        let v = tags.varint()? as usize;
                        let (Some(key), Some(kind)) = (keys.get(k), values.get(v)) else {
                            return Err(bad());
                        };
                        match fields.get_mut(key) {
                            Some(t) if t != kind => *t = "Mixed".into(),
                            Some(_) => {}
                            None => {
                                fields.insert(key.clone(), (*kind).to_string());
                            }
                        }
                    }
                }
                (_, wire) => fr.skip(wire)?,
            }
        }
    }
    Ok(LayerInfo {
        name,
        features: features.len() as u64,
        fields,
    })
}

/// The layers of an (uncompressed) MVT tile, in order.
pub fn layers(mvt: &[u8]) -> Result<Vec<LayerInfo>> {
    let mut r = Reader::new(mvt);
    let mut out = Vec::new();
    while !r.done() {
        match r.key()? {
            (3, 2) => out.push(layer(r.bytes()?)?),
            (_, wire) => r.skip(wire)?,
        }
    }
    Ok(out)
}

/// Merge the fields of `more` into `into` (a field seen with two types becomes `Mixed`).
pub fn merge_fields(into: &mut BTreeMap<String, String>, more: &BTreeMap<String, String>) {
    for (k, v) in more {
        match into.get_mut(k) {
            Some(t) if t != v => *t = "Mixed".into(),
            Some(_) => {}
            None => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(field: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![(field << 3) | 2, body.len() as u8];
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn fields_and_types() {
        // Layer "udf": keys [name, n], values ["a", 5u, true]; two features.
        let mut layer = msg(1, b"udf");
        layer.extend(msg(2, &msg(2, &[0, 0, 1, 1])));
        layer.extend(msg(2, &msg(2, &[0, 2])));
        layer.extend(msg(3, b"name"));
        layer.extend(msg(3, b"n"));
        layer.extend(msg(4, &msg(1, b"a")));
        layer.extend(msg(4, &[5 << 3, 5]));
        layer.extend(msg(4, &[7 << 3, 1]));
        let tile = msg(3, &layer);
        let got = layers(&tile).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "udf");
        assert_eq!(got[0].features, 2);
        assert_eq!(got[0].fields["name"], "Mixed");
        assert_eq!(got[0].fields["n"], "Number");
        assert!(layers(&tile[..tile.len() - 1]).is_err());
        assert!(layers(&[0x1a, 0x05, 0x01]).is_err());
        assert_eq!(layers(&[]).unwrap(), vec![]);
    }
}
