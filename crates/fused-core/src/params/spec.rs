//! The type spec language: parsing ([`TypeSpec::parse`]) and canonical rendering
//! (`Display`). The grammar is documented on the parent module.

use std::fmt;

use crate::error::{Error, Result};

/// Deepest nesting a spec may have (`list[list[...]]`), so a hostile schema cannot
/// exhaust the stack.
pub const MAX_SPEC_DEPTH: usize = 32;

/// A parsed parameter type. Build it with [`TypeSpec::parse`]; render the canonical
/// spec string with `to_string()` (what a UDF schema stores and what errors show).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TypeSpec {
    Any,
    Str,
    Int,
    Float,
    Bool,
    /// `list` / `list[T]` (`None` = elements of any type).
    List(Option<Box<TypeSpec>>),
    /// `set` / `set[T]`.
    Set(Option<Box<TypeSpec>>),
    /// `iterable` / `iterable[T]`: delivered as a list.
    Iterable(Option<Box<TypeSpec>>),
    /// `tuple`, `tuple[A,B,...]` or `tuple[T,...]`.
    Tuple(TupleItems),
    /// `dict` / `dict[K,V]`.
    Dict(Option<Box<(TypeSpec, TypeSpec)>>),
    /// `optional[T]`: also accepts null.
    Optional(Box<TypeSpec>),
    /// `union[A,B,...]` of at least two non-optional, non-any members.
    Union(Vec<TypeSpec>),
    Uuid,
    DateTime,
    Date,
    GeoDataFrame,
    DataFrame,
    /// `geometry` / `geometry[Polygon]` etc.
    Geometry(Option<GeometryKind>),
    Bounds,
    Bbox,
    TileXyz,
    TileGdf,
    ViewportGdf,
}

/// Items of a tuple spec.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TupleItems {
    /// bare `tuple`
    Any,
    /// `tuple[A,B,C]`: exactly these, in order
    Fixed(Vec<TypeSpec>),
    /// `tuple[T,...]`: any length, every item a T
    Variadic(Box<TypeSpec>),
}

/// The GeoJSON geometry types (spelled as GeoJSON spells them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GeometryKind {
    Point,
    LineString,
    Polygon,
    MultiPoint,
    MultiLineString,
    MultiPolygon,
    GeometryCollection,
}

impl GeometryKind {
    pub const ALL: [GeometryKind; 7] = [
        GeometryKind::Point,
        GeometryKind::LineString,
        GeometryKind::Polygon,
        GeometryKind::MultiPoint,
        GeometryKind::MultiLineString,
        GeometryKind::MultiPolygon,
        GeometryKind::GeometryCollection,
    ];

    /// The GeoJSON `type` name, e.g. `"MultiPolygon"`.
    pub fn name(self) -> &'static str {
        match self {
            GeometryKind::Point => "Point",
            GeometryKind::LineString => "LineString",
            GeometryKind::Polygon => "Polygon",
            GeometryKind::MultiPoint => "MultiPoint",
            GeometryKind::MultiLineString => "MultiLineString",
            GeometryKind::MultiPolygon => "MultiPolygon",
            GeometryKind::GeometryCollection => "GeometryCollection",
        }
    }

    /// Exact GeoJSON spelling.
    pub fn from_geojson(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Any ASCII case (`polygon`, `POLYGON`), as in specs and WKT.
    pub fn from_name_ignore_case(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }
}

impl TypeSpec {
    /// Parse a spec string such as `optional[list[int]]`. Whitespace between tokens is
    /// ignored; names are lowercase (geometry kinds in any case). See the module docs.
    pub fn parse(spec: &str) -> Result<TypeSpec> {
        let mut p = Parser {
            src: spec,
            pos: 0,
            depth: 0,
        };
        let t = p.spec()?;
        p.skip_ws();
        if p.pos != spec.len() {
            return Err(p.error("end of spec"));
        }
        Ok(t)
    }

    /// `optional[T]`, collapsing `optional[optional[T]]`.
    pub fn optional(inner: TypeSpec) -> TypeSpec {
        match inner {
            TypeSpec::Optional(_) => inner,
            other => TypeSpec::Optional(Box::new(other)),
        }
    }

    /// `union[...]`, normalised: nested unions flattened, duplicates dropped, an
    /// optional member makes the whole union optional, an `any` member makes it `any`,
    /// a single member stands for itself.
    pub fn union(members: Vec<TypeSpec>) -> TypeSpec {
        let mut flat: Vec<TypeSpec> = Vec::new();
        let mut optional = false;
        let mut stack: Vec<TypeSpec> = members.into_iter().rev().collect();
        while let Some(m) = stack.pop() {
            match m {
                TypeSpec::Optional(inner) => {
                    optional = true;
                    stack.push(*inner);
                }
                TypeSpec::Union(inner) => stack.extend(inner.into_iter().rev()),
                TypeSpec::Any => return TypeSpec::Any,
                other => {
                    if !flat.contains(&other) {
                        flat.push(other);
                    }
                }
            }
        }
        let core = if flat.len() == 1 {
            flat.pop().expect("one member")
        } else {
            TypeSpec::Union(flat)
        };
        if optional {
            TypeSpec::optional(core)
        } else {
            core
        }
    }

    /// The element type of a list-like spec (`None` for bare `list`, or a non-sequence).
    pub fn element(&self) -> Option<&TypeSpec> {
        match self {
            TypeSpec::List(e) | TypeSpec::Set(e) | TypeSpec::Iterable(e) => e.as_deref(),
            TypeSpec::Tuple(TupleItems::Variadic(e)) => Some(e),
            _ => None,
        }
    }
}

fn write_opt(f: &mut fmt::Formatter<'_>, name: &str, e: Option<&TypeSpec>) -> fmt::Result {
    match e {
        Some(e) => write!(f, "{name}[{e}]"),
        None => f.write_str(name),
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, items: &[TypeSpec]) -> fmt::Result {
    for (i, t) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{t}")?;
    }
    Ok(())
}

impl fmt::Display for TypeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeSpec::Any => f.write_str("any"),
            TypeSpec::Str => f.write_str("str"),
            TypeSpec::Int => f.write_str("int"),
            TypeSpec::Float => f.write_str("float"),
            TypeSpec::Bool => f.write_str("bool"),
            TypeSpec::List(e) => write_opt(f, "list", e.as_deref()),
            TypeSpec::Set(e) => write_opt(f, "set", e.as_deref()),
            TypeSpec::Iterable(e) => write_opt(f, "iterable", e.as_deref()),
            TypeSpec::Tuple(TupleItems::Any) => f.write_str("tuple"),
            TypeSpec::Tuple(TupleItems::Fixed(items)) => {
                f.write_str("tuple[")?;
                write_list(f, items)?;
                f.write_str("]")
            }
            TypeSpec::Tuple(TupleItems::Variadic(e)) => write!(f, "tuple[{e},...]"),
            TypeSpec::Dict(None) => f.write_str("dict"),
            TypeSpec::Dict(Some(kv)) => write!(f, "dict[{},{}]", kv.0, kv.1),
            TypeSpec::Optional(e) => write!(f, "optional[{e}]"),
            TypeSpec::Union(items) => {
                f.write_str("union[")?;
                write_list(f, items)?;
                f.write_str("]")
            }
            TypeSpec::Uuid => f.write_str("uuid"),
            TypeSpec::DateTime => f.write_str("datetime"),
            TypeSpec::Date => f.write_str("date"),
            TypeSpec::GeoDataFrame => f.write_str("geodataframe"),
            TypeSpec::DataFrame => f.write_str("dataframe"),
            TypeSpec::Geometry(None) => f.write_str("geometry"),
            TypeSpec::Geometry(Some(k)) => write!(f, "geometry[{}]", k.name()),
            TypeSpec::Bounds => f.write_str("bounds"),
            TypeSpec::Bbox => f.write_str("bbox"),
            TypeSpec::TileXyz => f.write_str("tilexyz"),
            TypeSpec::TileGdf => f.write_str("tilegdf"),
            TypeSpec::ViewportGdf => f.write_str("viewportgdf"),
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, expected: &str) -> Error {
        Error::invalid(
            "type spec",
            format!("{expected} at offset {}", self.pos),
            format!("'{}'", crate::params::show::truncate(self.src)),
        )
    }

    fn skip_ws(&mut self) {
        let rest = &self.src[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.src[self.pos..].starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> Result<&str> {
        self.skip_ws();
        let start = self.pos;
        let bytes = self.src.as_bytes();
        while self.pos < bytes.len()
            && (bytes[self.pos].is_ascii_alphanumeric() || bytes[self.pos] == b'_')
        {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("a type name"));
        }
        Ok(&self.src[start..self.pos])
    }

    /// `[` args `]` if present, else an empty list.
    fn args(&mut self) -> Result<Option<Vec<Arg>>> {
        if !self.eat("[") {
            return Ok(None);
        }
        let mut args = Vec::new();
        loop {
            if self.eat("...") {
                args.push(Arg::Ellipsis);
            } else {
                args.push(Arg::Spec(self.spec()?));
            }
            if self.eat(",") {
                continue;
            }
            if self.eat("]") {
                return Ok(Some(args));
            }
            return Err(self.error("',' or ']'"));
        }
    }

    fn spec(&mut self) -> Result<TypeSpec> {
        self.depth += 1;
        if self.depth > MAX_SPEC_DEPTH {
            return Err(self.error(&format!("at most {MAX_SPEC_DEPTH} levels of nesting")));
        }
        let name_start = {
            self.skip_ws();
            self.pos
        };
        let name = self.ident()?.to_string();
        // Geometry kinds are names, not specs: parse them here.
        if name == "geometry" {
            self.depth -= 1;
            if !self.eat("[") {
                return Ok(TypeSpec::Geometry(None));
            }
            let kind_name = self.ident()?.to_string();
            let kind = GeometryKind::from_name_ignore_case(&kind_name).ok_or_else(|| {
                self.error("a geometry kind (Point, LineString, Polygon, MultiPoint, MultiLineString, MultiPolygon, GeometryCollection)")
            })?;
            if !self.eat("]") {
                return Err(self.error("']'"));
            }
            return Ok(TypeSpec::Geometry(Some(kind)));
        }
        let args = self.args()?;
        self.depth -= 1;
        let at = |p: &Parser, what: &str| {
            let mut e = p.error(what);
            if let Error::InvalidArgument { expected, .. } = &mut e {
                *expected = format!("{what} (for '{name}' at offset {name_start})");
            }
            e
        };
        let specs = |p: &Parser, args: Vec<Arg>| -> Result<Vec<TypeSpec>> {
            args.into_iter()
                .map(|a| match a {
                    Arg::Spec(s) => Ok(s),
                    Arg::Ellipsis => Err(at(p, "'...' only as tuple[T,...]")),
                })
                .collect()
        };
        let one = |p: &Parser, args: Vec<Arg>| -> Result<Box<TypeSpec>> {
            let mut v = specs(p, args)?;
            if v.len() != 1 {
                return Err(at(p, "exactly one type argument"));
            }
            Ok(Box::new(v.pop().expect("one")))
        };
        let simple = match name.as_str() {
            "any" => Some(TypeSpec::Any),
            "str" => Some(TypeSpec::Str),
            "int" => Some(TypeSpec::Int),
            "float" => Some(TypeSpec::Float),
            "bool" => Some(TypeSpec::Bool),
            "uuid" => Some(TypeSpec::Uuid),
            "datetime" => Some(TypeSpec::DateTime),
            "date" => Some(TypeSpec::Date),
            "geodataframe" => Some(TypeSpec::GeoDataFrame),
            "dataframe" => Some(TypeSpec::DataFrame),
            "bounds" => Some(TypeSpec::Bounds),
            "bbox" => Some(TypeSpec::Bbox),
            "tilexyz" => Some(TypeSpec::TileXyz),
            "tilegdf" => Some(TypeSpec::TileGdf),
            "viewportgdf" => Some(TypeSpec::ViewportGdf),
            _ => None,
        };
        if let Some(t) = simple {
            if args.is_some() {
                return Err(at(self, "no type arguments"));
            }
            return Ok(t);
        }
        let spec = match (name.as_str(), args) {
            ("list", None) => TypeSpec::List(None),
            ("list", Some(a)) => TypeSpec::List(Some(one(self, a)?)),
            ("set", None) => TypeSpec::Set(None),
            ("set", Some(a)) => TypeSpec::Set(Some(one(self, a)?)),
            ("iterable", None) => TypeSpec::Iterable(None),
            ("iterable", Some(a)) => TypeSpec::Iterable(Some(one(self, a)?)),
            ("tuple", None) => TypeSpec::Tuple(TupleItems::Any),
            ("tuple", Some(mut a)) => {
                if a.len() == 2 && matches!(a[1], Arg::Ellipsis) {
                    a.pop();
                    TypeSpec::Tuple(TupleItems::Variadic(one(self, a)?))
                } else {
                    TypeSpec::Tuple(TupleItems::Fixed(specs(self, a)?))
                }
            }
            ("dict", None) => TypeSpec::Dict(None),
            ("dict", Some(a)) => {
                let mut v = specs(self, a)?;
                if v.len() != 2 {
                    return Err(at(self, "two type arguments (key, value)"));
                }
                let value = v.pop().expect("two");
                let key = v.pop().expect("two");
                TypeSpec::Dict(Some(Box::new((key, value))))
            }
            ("optional", Some(a)) => TypeSpec::optional(*one(self, a)?),
            ("union", Some(a)) => TypeSpec::union(specs(self, a)?),
            ("optional" | "union", None) => return Err(at(self, "type arguments in '[...]'")),
            _ => {
                self.pos = name_start;
                return Err(self.error(
                    "a known type name (any, str, int, float, bool, list, tuple, dict, set, iterable, \
                     optional, union, uuid, datetime, date, dataframe, geodataframe, geometry, bounds, \
                     bbox, tilexyz, tilegdf, viewportgdf)",
                ));
            }
        };
        Ok(spec)
    }
}

enum Arg {
    Spec(TypeSpec),
    Ellipsis,
}
