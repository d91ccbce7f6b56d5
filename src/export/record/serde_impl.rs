//! Hand-written serde for the compact forms of a record: a day (`"closed"` or a list of
//! periods), a period (`"07:00-13:00"`), inline text (a string or a list of runs), a run (a
//! string or a one-key object) and a decimal (a string or a JSON number).
//!
//! Written by hand for good error messages and no untagged guessing; a day and an inline text
//! stop decoding at their size limit.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use super::limits::{MAX_ITEMS, MAX_SMALL};
use super::types::{Day, Decimal, Inline, Period, Run};

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Decimal;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a decimal number, as a string (\"1.30\") or a JSON number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
                Ok(Decimal(v.to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
                Ok(Decimal(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
                Ok(Decimal(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
                // Rust prints floats without exponent and with the shortest round-trip digits.
                Ok(Decimal(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Day::Closed => s.serialize_str("closed"),
            Day::Open(periods) => {
                let mut seq = s.serialize_seq(Some(periods.len()))?;
                for p in periods {
                    seq.serialize_element(p)?;
                }
                seq.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Day;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"closed\" or an array of \"HH:MM-HH:MM\" periods")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Day, E> {
                if v == "closed" {
                    Ok(Day::Closed)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Day, A::Error> {
                let mut periods = Vec::new();
                while let Some(p) = seq.next_element::<Period>()? {
                    if periods.len() == MAX_SMALL {
                        return Err(de::Error::custom(format!(
                            "more than {MAX_SMALL} periods in one day"
                        )));
                    }
                    periods.push(p);
                }
                Ok(Day::Open(periods))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}-{}", self.from, self.to))
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Period;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a period \"HH:MM-HH:MM\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Period, E> {
                match v.split_once('-') {
                    Some((from, to)) if !to.contains('-') => Ok(Period {
                        from: from.to_owned(),
                        to: to.to_owned(),
                    }),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_str(V)
    }
}

impl Serialize for Inline {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let [Run::Text(t)] = self.0.as_slice() {
            return s.serialize_str(t);
        }
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for run in &self.0 {
            seq.serialize_element(run)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Inline {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Inline;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("inline text: a string or an array of runs")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Inline, E> {
                Ok(Inline::text(v))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Inline, E> {
                Ok(Inline(vec![Run::Text(v)]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Inline, A::Error> {
                let mut runs = Vec::new();
                while let Some(run) = seq.next_element::<Run>()? {
                    if runs.len() == MAX_ITEMS {
                        return Err(de::Error::custom(format!(
                            "more than {MAX_ITEMS} runs in one inline text"
                        )));
                    }
                    runs.push(run);
                }
                Ok(Inline(runs))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Run {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Run::Text(t) => s.serialize_str(t),
            Run::Em(i) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("em", i)?;
                m.end()
            }
            Run::Strong(i) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("strong", i)?;
                m.end()
            }
            Run::Link { label, href } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("a", label)?;
                m.serialize_entry("href", href)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Run {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Run;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a run: a string, {\"em\": …}, {\"strong\": …} or {\"a\": …, \"href\": \"…\"}",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Run, E> {
                Ok(Run::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Run, E> {
                Ok(Run::Text(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Run, A::Error> {
                let (mut em, mut strong, mut a, mut href) = (None, None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    let slot_taken = match key.as_str() {
                        "em" => em.replace(map.next_value::<Inline>()?).is_some(),
                        "strong" => strong.replace(map.next_value::<Inline>()?).is_some(),
                        "a" => a.replace(map.next_value::<Inline>()?).is_some(),
                        "href" => href.replace(map.next_value::<String>()?).is_some(),
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["em", "strong", "a", "href"],
                            ))
                        }
                    };
                    if slot_taken {
                        return Err(de::Error::custom(format!("duplicate field `{key}`")));
                    }
                }
                match (em, strong, a, href) {
                    (Some(i), None, None, None) => Ok(Run::Em(i)),
                    (None, Some(i), None, None) => Ok(Run::Strong(i)),
                    (None, None, Some(label), Some(href)) => Ok(Run::Link { label, href }),
                    (None, None, Some(_), None) => Err(de::Error::missing_field("href")),
                    _ => Err(de::Error::custom(
                        "a run object has exactly one of `em`, `strong`, or `a` with `href`",
                    )),
                }
            }
        }
        d.deserialize_any(V)
    }
}
