//! A YAML tree that remembers where every value came from, and a serde
//! `Deserializer` over it.
//!
//! Why not serde_norway or serde_yaml_ng: both stop at the first error and
//! forget positions once a value is parsed, so a lint about a dangling
//! reference could not say `file:line:col`. Here every value is a [`Node`]
//! with a [`Pos`], raw structs may hold [`Spanned<T>`], and
//! `deserialize_struct` checks *all* keys against serde's field list before
//! the derived visitor runs, so every unknown key is reported, not just the first.

use std::cell::RefCell;
use std::fmt;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::rules::Rule;

/// 1-based line and column in the scenario file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Debug, Clone)]
pub enum Value {
    Null,
    /// A scalar as written; `quoted` scalars are never null, numbers or booleans.
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// A problem found while reading the YAML, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub pos: Pos,
    pub rule: Rule,
    pub message: String,
}

/// Parses one YAML document into a [`Node`] tree.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    let mut stack: Vec<(Node, Option<Node>)> = Vec::new();
    let mut root = None;
    let mut documents = 0;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| YamlError {
            pos: Pos {
                line: e.marker().line(),
                col: e.marker().col() + 1,
            },
            rule: Rule::YamlSyntax,
            message: e.info().to_string(),
        })?;
        let pos = Pos {
            line: span.start.line(),
            col: span.start.col() + 1,
        };
        let done = match event {
            Event::Scalar(text, style, _, _) => {
                let quoted = !matches!(style, ScalarStyle::Plain);
                let value = if !quoted && matches!(&*text, "" | "~" | "null") {
                    Value::Null
                } else {
                    Value::Scalar {
                        text: text.into_owned(),
                        quoted,
                    }
                };
                Some(Node { pos, value })
            }
            Event::SequenceStart(..) => {
                stack.push((
                    Node {
                        pos,
                        value: Value::Seq(vec![]),
                    },
                    None,
                ));
                None
            }
            Event::MappingStart(..) => {
                stack.push((
                    Node {
                        pos,
                        value: Value::Map(vec![]),
                    },
                    None,
                ));
                None
            }
            Event::SequenceEnd | Event::MappingEnd => stack.pop().map(|(n, _)| n),
            // A second document would be read over the first, or ignored:
            // either way the file would not say what runs.
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlError {
                        pos,
                        rule: Rule::YamlSyntax,
                        message: "a second YAML document (after `---`): a scenario file holds one".into(),
                    });
                }
                None
            }
            Event::Alias(_) => {
                return Err(YamlError {
                    pos,
                    rule: Rule::YamlSyntax,
                    message: "YAML aliases are not supported in scenarios".into(),
                })
            }
            _ => None,
        };
        if let Some(node) = done {
            match stack.last_mut() {
                None => root = Some(node),
                Some((Node { value: Value::Seq(items), .. }, _)) => items.push(node),
                Some((
                    Node {
                        value: Value::Map(entries), ..
                    },
                    key,
                )) => match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push((k, node)),
                },
                Some(_) => unreachable!("only collections are pushed"),
            }
        }
    }
    Ok(root.unwrap_or(Node {
        pos: Pos { line: 1, col: 1 },
        value: Value::Null,
    }))
}

/// A value with the position it was written at. Use it in raw structs for
/// anything a later lint may need to point at.
#[derive(Debug, Clone)]
pub struct Spanned<T> {
    pub pos: Pos,
    pub value: T,
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

const SPANNED: &str = "$dnslab::Spanned";

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Spanned<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let line: usize = seq.next_element()?.ok_or_else(|| de::Error::custom("line"))?;
                let col: usize = seq.next_element()?.ok_or_else(|| de::Error::custom("col"))?;
                let value: T = seq.next_element()?.ok_or_else(|| de::Error::custom("value"))?;
                Ok(Spanned { pos: Pos { line, col }, value })
            }
        }
        d.deserialize_struct(SPANNED, &["line", "col", "value"], V(Default::default()))
    }
}

/// serde error carrying a position; the innermost node that failed sets it.
#[derive(Debug)]
pub struct Error {
    pos: Option<Pos>,
    message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for Error {}
impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error {
            pos: None,
            message: msg.to_string(),
        }
    }
}

thread_local! {
    /// Problems that do not stop deserialization: unknown keys, and entries
    /// skipped by [`lenient`].
    static UNKNOWN: RefCell<Vec<YamlError>> = const { RefCell::new(Vec::new()) };
    /// Where the innermost error of the current deserialization happened.
    static LAST_POS: RefCell<Option<Pos>> = const { RefCell::new(None) };
}

/// Deserializes one entry of a list or mapping; a failure is recorded, with
/// its position, and the entry skipped, so one bad entry hides no others.
pub fn lenient<'de, T: Deserialize<'de>, D: de::Deserializer<'de>>(d: D) -> Option<T> {
    LAST_POS.with(|p| p.borrow_mut().take());
    match T::deserialize(d) {
        Ok(v) => Some(v),
        Err(e) => {
            let pos = LAST_POS.with(|p| p.borrow_mut().take()).unwrap_or_default();
            UNKNOWN.with(|u| {
                u.borrow_mut().push(YamlError {
                    pos,
                    rule: Rule::BadValue,
                    message: e.to_string(),
                })
            });
            None
        }
    }
}

fn located(pos: Pos, message: String) -> Error {
    LAST_POS.with(|p| *p.borrow_mut() = Some(pos));
    Error { pos: Some(pos), message }
}

/// Deserializes `T` from a node. Returns the value (if the shape was right)
/// and every problem found: all unknown keys, plus the first type error.
pub fn from_node<'a, T: Deserialize<'a>>(node: &'a Node) -> (Option<T>, Vec<YamlError>) {
    UNKNOWN.with(|u| u.borrow_mut().clear());
    let result = T::deserialize(node);
    let mut errors = UNKNOWN.with(|u| std::mem::take(&mut *u.borrow_mut()));
    match result {
        Ok(v) => (Some(v), errors),
        Err(e) => {
            errors.push(YamlError {
                pos: e.pos.unwrap_or(node.pos),
                rule: Rule::BadValue,
                message: e.message,
            });
            (None, errors)
        }
    }
}

impl Node {
    fn at<T>(&self, r: Result<T, Error>) -> Result<T, Error> {
        r.map_err(|e| match e.pos {
            Some(_) => e,
            None => located(self.pos, e.message),
        })
    }

    fn describe(&self) -> de::Unexpected<'_> {
        match &self.value {
            Value::Null => de::Unexpected::Unit,
            Value::Scalar { text, .. } => de::Unexpected::Str(text),
            Value::Seq(_) => de::Unexpected::Seq,
            Value::Map(_) => de::Unexpected::Map,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }
}

macro_rules! forward_parse {
    ($($method:ident => $visit:ident: $ty:ty,)*) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
            match &self.value {
                Value::Scalar { text, quoted: false } => match text.parse::<$ty>() {
                    Ok(x) => self.at(v.$visit(x)),
                    Err(_) => Err(located(self.pos, format!("expected {}, found `{}`", stringify!($ty), text))),
                },
                _ => Err(located(self.pos, format!("invalid type: {}, expected {}", self.describe(), stringify!($ty)))),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &'de Node {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        let r = match &self.value {
            Value::Null => v.visit_unit(),
            Value::Scalar { text, quoted } => {
                if !quoted {
                    if let Ok(n) = text.parse::<u64>() {
                        return self.at(v.visit_u64(n));
                    }
                    if let Ok(n) = text.parse::<i64>() {
                        return self.at(v.visit_i64(n));
                    }
                    match text.as_str() {
                        "true" => return self.at(v.visit_bool(true)),
                        "false" => return self.at(v.visit_bool(false)),
                        _ => {}
                    }
                }
                v.visit_borrowed_str(text)
            }
            Value::Seq(items) => v.visit_seq(Seq { items: items.iter() }),
            Value::Map(entries) => v.visit_map(Map {
                entries: entries.iter(),
                value: None,
                fields: None,
            }),
        };
        self.at(r)
    }

    forward_parse! {
        deserialize_bool => visit_bool: bool,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match &self.value {
            Value::Scalar { text, .. } => self.at(v.visit_borrowed_str(text)),
            _ => Err(located(self.pos, format!("invalid type: {}, expected a string", self.describe()))),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        self.deserialize_str(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => v.visit_none(),
            _ => self.at(v.visit_some(self)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(self, name: &'static str, fields: &'static [&'static str], v: V) -> Result<V::Value, Error> {
        if name == SPANNED {
            let items = [self.pos.line as u64, self.pos.col as u64];
            return self.at(v.visit_seq(SpannedSeq { pos: items, node: self, i: 0 }));
        }
        let Value::Map(entries) = &self.value else {
            return Err(located(self.pos, format!("invalid type: {}, expected a mapping", self.describe())));
        };
        for entry in entries {
            let key = entry.0.as_str().unwrap_or("");
            if !fields.contains(&key) {
                UNKNOWN.with(|u| {
                    u.borrow_mut().push(YamlError {
                        pos: entry.0.pos,
                        rule: Rule::UnknownKey,
                        message: format!("unknown key `{key}`; expected one of: {}", fields.join(", ")),
                    })
                });
            }
        }
        self.at(v.visit_map(Map {
            entries: entries.iter(),
            value: None,
            fields: Some(fields),
        }))
    }

    fn deserialize_enum<V: Visitor<'de>>(self, _name: &'static str, _variants: &'static [&'static str], v: V) -> Result<V::Value, Error> {
        match &self.value {
            Value::Scalar { text, .. } => self.at(v.visit_enum(text.as_str().into_deserializer())),
            _ => Err(located(self.pos, format!("invalid type: {}, expected a name", self.describe()))),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, v: V) -> Result<V::Value, Error> {
        self.at(v.visit_newtype_struct(self))
    }

    serde::forward_to_deserialize_any! {
        char bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier ignored_any i128 u128
    }
}

struct SpannedSeq<'de> {
    pos: [u64; 2],
    node: &'de Node,
    i: usize,
}

impl<'de> SeqAccess<'de> for SpannedSeq<'de> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        self.i += 1;
        match self.i {
            1 | 2 => seed.deserialize(self.pos[self.i - 1].into_deserializer()).map(Some),
            3 => seed.deserialize(self.node).map(Some),
            _ => Ok(None),
        }
    }
}

struct Seq<'de> {
    items: std::slice::Iter<'de, Node>,
}

impl<'de> SeqAccess<'de> for Seq<'de> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        self.items.next().map(|n| seed.deserialize(n)).transpose()
    }
}

struct Map<'de> {
    entries: std::slice::Iter<'de, (Node, Node)>,
    value: Option<&'de Node>,
    /// For structs: keys outside this list were already reported; skip them.
    fields: Option<&'static [&'static str]>,
}

impl<'de> MapAccess<'de> for Map<'de> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let fields = self.fields;
        let known = |(k, _): &&(Node, Node)| fields.is_none_or(|f| f.contains(&k.as_str().unwrap_or("")));
        match self.entries.by_ref().find(known) {
            None => Ok(None),
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(k).map(Some)
            }
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(self.value.take().expect("value follows key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        a: Spanned<String>,
        b: Option<u16>,
        m: Option<BTreeMap<String, Spanned<u32>>>,
    }

    #[test]
    fn positions_and_every_unknown_key() {
        let n = parse("a: hello\nx: 1\nb: 7\ny: [1]\nm: { k: 3 }\n").unwrap();
        let (t, errs) = from_node::<T>(&n);
        let t = t.unwrap();
        assert_eq!(t.a.pos, Pos { line: 1, col: 4 });
        assert_eq!(t.m.unwrap()["k"].pos, Pos { line: 5, col: 9 });
        let got: Vec<_> = errs.iter().map(|e| (e.pos.line, e.rule)).collect();
        assert_eq!(got, vec![(2, Rule::UnknownKey), (4, Rule::UnknownKey)]);
    }

    #[test]
    fn type_error_points_at_value() {
        let n = parse("a: x\nb: notaport\n").unwrap();
        let (t, errs) = from_node::<T>(&n);
        assert!(t.is_none());
        assert_eq!(errs[0].pos, Pos { line: 2, col: 4 });
    }

    #[test]
    fn a_second_document_is_an_error() {
        assert!(parse("a: 1\n").is_ok() && parse("---\na: 1\n").is_ok());
        let e = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!((e.pos.line, e.rule), (2, Rule::YamlSyntax), "{}", e.message);
    }

    #[test]
    fn syntax_error_has_position() {
        let e = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(e.rule, Rule::YamlSyntax);
        assert!(e.pos.line >= 2);
    }
}
