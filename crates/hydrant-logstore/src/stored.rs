//! A log read from its stored JSON without building a [`Log`](hydrant_log::Log): strings
//! borrowed from the JSON where it spells them without escapes, objects as vectors of
//! pairs. This is what documents are built from.
//!
//! Why not `serde_json::from_str::<Log>`: the indexer gets each log as the JSON the intake's
//! write-ahead log holds, and decoding it into a `Log` (a `String` per value, a `BTreeMap`
//! per object, all freed right after the document is built) cost about as much as building
//! the document itself. The view reads the same JSON with a handful of allocations.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// The stored JSON of a log (`serde_json::to_writer` of a [`Log`](hydrant_log::Log)).
#[derive(Deserialize)]
pub(crate) struct StoredLog<'a> {
    #[serde(borrow)]
    pub id: Str<'a>,
    pub timestamp_ms: i64,
    #[serde(default, borrow)]
    pub host: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub service: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub source: Option<Str<'a>>,
    #[serde(borrow)]
    pub status: Str<'a>,
    #[serde(default, borrow)]
    pub message: Str<'a>,
    #[serde(default, borrow)]
    pub trace_id: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub tags: Vec<Str<'a>>,
    #[serde(default, borrow)]
    pub attributes: Object<'a>,
}

/// A JSON string, borrowed when it has no escapes.
#[derive(Default, Debug, PartialEq)]
pub(crate) struct Str<'a>(pub Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// A JSON object, its members in the JSON's order.
#[derive(Default, Debug, PartialEq)]
pub(crate) struct Object<'a>(pub Vec<(Str<'a>, Json<'a>)>);

impl Object<'_> {
    /// Whether a member is named `key`.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| &**k == key)
    }
}

/// A JSON value.
#[derive(Debug, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Str<'a>),
    Array(Vec<Json<'a>>),
    Object(Object<'a>),
}

/// What the document builder reads of an attribute tree, so that one builder serves the
/// stored view ([`Json`], read back from a log's JSON) and serde_json's `Value` (a
/// [`Log`](hydrant_log::Log) in memory, on the thread that received it).
pub(crate) trait Tree: Sized {
    /// The tree's object type.
    type Object: TreeObject<Value = Self>;
    /// This value, by kind.
    fn node(&self) -> Node<'_, Self>;
}

/// A value of a [`Tree`], by kind.
pub(crate) enum Node<'a, T: Tree> {
    Null,
    Bool(bool),
    Number(&'a serde_json::Number),
    String(&'a str),
    Array(&'a [T]),
    Object(&'a T::Object),
}

/// An object of a [`Tree`]: its members in order, and key lookup.
pub(crate) trait TreeObject {
    /// The values of the members.
    type Value: Tree;
    /// Iterator over the members.
    type Members<'a>: Iterator<Item = (&'a str, &'a Self::Value)>
    where
        Self: 'a;
    /// The members, in the object's order.
    fn members(&self) -> Self::Members<'_>;
    /// Whether a member is named `key`.
    fn has(&self, key: &str) -> bool;
}

impl<'j> Tree for Json<'j> {
    type Object = Object<'j>;
    fn node(&self) -> Node<'_, Self> {
        match self {
            Json::Null => Node::Null,
            Json::Bool(b) => Node::Bool(*b),
            Json::Number(n) => Node::Number(n),
            Json::String(s) => Node::String(s),
            Json::Array(items) => Node::Array(items),
            Json::Object(o) => Node::Object(o),
        }
    }
}

type Member<'a, 'j> = &'a (Str<'j>, Json<'j>);

impl<'j> TreeObject for Object<'j> {
    type Value = Json<'j>;
    type Members<'a>
        = std::iter::Map<std::slice::Iter<'a, (Str<'j>, Json<'j>)>, fn(Member<'a, 'j>) -> (&'a str, &'a Json<'j>)>
    where
        Self: 'a;
    fn members(&self) -> Self::Members<'_> {
        self.0.iter().map(|(k, v)| (&**k, v))
    }
    fn has(&self, key: &str) -> bool {
        self.contains_key(key)
    }
}

impl Tree for serde_json::Value {
    type Object = serde_json::Map<String, serde_json::Value>;
    fn node(&self) -> Node<'_, Self> {
        use serde_json::Value as V;
        match self {
            V::Null => Node::Null,
            V::Bool(b) => Node::Bool(*b),
            V::Number(n) => Node::Number(n),
            V::String(s) => Node::String(s),
            V::Array(items) => Node::Array(items),
            V::Object(o) => Node::Object(o),
        }
    }
}

type ValueMember<'a> = (&'a String, &'a serde_json::Value);

impl TreeObject for serde_json::Map<String, serde_json::Value> {
    type Value = serde_json::Value;
    type Members<'a>
        = std::iter::Map<serde_json::map::Iter<'a>, fn(ValueMember<'a>) -> (&'a str, &'a serde_json::Value)>
    where
        Self: 'a;
    fn members(&self) -> Self::Members<'_> {
        self.iter().map(|(k, v)| (k.as_str(), v))
    }
    fn has(&self, key: &str) -> bool {
        self.contains_key(key)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Object<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Json::deserialize(d)? {
            Json::Object(o) => Ok(o),
            _ => Err(de::Error::custom("expected an object")),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Json<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Json<'de>, E> {
                Ok(Json::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Json<'de>, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Json<'de>, E> {
                Ok(Json::Bool(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json<'de>, E> {
                Ok(Json::Number(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Json<'de>, E> {
                Ok(Json::Number(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json<'de>, E> {
                // JSON text has no NaN or infinity; serde_json's `Value` maps them to null too.
                Ok(serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Json<'de>, E> {
                Ok(Json::String(Str(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Json<'de>, E> {
                Ok(Json::String(Str(Cow::Owned(v.to_string()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Json<'de>, E> {
                Ok(Json::String(Str(Cow::Owned(v))))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(v) = seq.next_element()? {
                    items.push(v);
                }
                Ok(Json::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
                let mut members: Vec<(Str<'de>, Json<'de>)> = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some((k, v)) = map.next_entry::<Str<'de>, Json<'de>>()? {
                    // As serde_json's `Map`: a repeated key keeps the last value. Stored logs
                    // come from a sorted map, so a key after the previous one is new; only
                    // other JSON pays for the search.
                    let after_last = members.last().is_none_or(|(last, _)| **last < *k);
                    let earlier = if after_last { None } else { members.iter_mut().find(|(other, _)| *other == k) };
                    match earlier {
                        Some(m) => m.1 = v,
                        None => members.push((k, v)),
                    }
                }
                Ok(Json::Object(Object(members)))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let json = r#"{"id":"a","timestamp_ms":5,"status":"info","message":"line\none","tags":["env:prod"],
            "attributes":{"n":1.5,"i":-3,"u":18446744073709551615,"b":true,"z":null,"s":"x\"y","a":[1,{"k":"v"}],"o":{"k":"w"}}}"#;
        let log: StoredLog = serde_json::from_str(json).unwrap();
        assert!(matches!(log.id.0, Cow::Borrowed("a")));
        assert!(matches!(log.message.0, Cow::Owned(ref m) if m == "line\none"));
        assert!(matches!(log.tags[0].0, Cow::Borrowed("env:prod")));
        assert_eq!(log.host, None);
        let attrs = &log.attributes.0;
        let names: Vec<&str> = attrs.iter().map(|(k, _)| &*k.0).collect();
        assert_eq!(names, ["n", "i", "u", "b", "z", "s", "a", "o"]);
        assert_eq!(attrs[0].1, Json::Number(serde_json::Number::from_f64(1.5).unwrap()));
        assert_eq!(attrs[2].1, Json::Number(u64::MAX.into()));
        assert_eq!(attrs[4].1, Json::Null);
        assert!(matches!(&attrs[5].1, Json::String(s) if &**s == "x\"y"));
        assert!(log.attributes.contains_key("o") && !log.attributes.contains_key("k"));
    }

    #[test]
    fn a_repeated_key_keeps_the_last_value() {
        let o: Object = serde_json::from_str(r#"{"a":1,"b":2,"a":3}"#).unwrap();
        assert_eq!(o.0.len(), 2);
        assert_eq!(o.0[0].1, Json::Number(3.into()));
        let o: Object = serde_json::from_str(r#"{"b":1,"a":2,"c":3,"a":4}"#).unwrap();
        let got: Vec<(&str, &Json)> = o.0.iter().map(|(k, v)| (&**k, v)).collect();
        assert_eq!(
            got,
            [("b", &Json::Number(1.into())), ("a", &Json::Number(4.into())), ("c", &Json::Number(3.into()))]
        );
    }
}
