//! Datadog log search syntax for Hydrant: parsed once into a store-neutral AST, evaluated in
//! memory against a log.
//!
//! ```
//! use hydrant_query::{parse, JsonLog};
//! use serde_json::json;
//!
//! let filter = parse("service:aws source:aws").unwrap();
//! let log = JsonLog::new(json!({"message": "hi", "service": "aws", "source": "aws"}));
//! assert!(filter.matches(&log));
//!
//! let err = parse("(a OR b))").unwrap_err();
//! assert_eq!(err.to_string(), "unexpected ')' at position 8");
//! ```
//!
//! - [`parse`] turns a query into a [`Query`] (or a [`ParseError`] with a character
//!   position, for the API's 400 answers). `*` and the empty query are [`Query::All`].
//! - [`Query`] (module [`ast`]) is explicit and store-neutral: pipeline filters and category
//!   processors evaluate it with [`Query::matches`]; the tantivy store and later ClickHouse
//!   compile the same tree. The parser normalises it once (lowercased constants, parsed
//!   numbers, comparisons as ranges, flattened boolean operators): see [`ast`].
//! - [`Query::matches`] reads a log through the [`Document`] trait; [`JsonLog`] implements it
//!   over JSON shaped like the search API's logs.
//! - `Display` renders a query back to syntax; `parse(&q.to_string()) == Ok(q)`.
//!
//! # Syntax
//!
//! Terms (`error`), phrases (`"disk full"`), implicit `AND`, `AND`/`&&`, `OR`/`||`,
//! `NOT`/`-`/`!`, `+term` (same as `term`), parentheses; `key:value` on tags, the reserved
//! fields `host`, `source` (also `ddsource`), `status`, `service`, `trace_id`, `message`, and
//! `tags:value` for whole (also bare) tags; `@attr.path:value` on attributes; `key:(a OR b)`;
//! wildcards `*` and `?`; `@a:*`, `-@a:*`, `_exists_:@a`, `_missing_:@a`, `env:*`;
//! `@a:>100`, `>=`, `<`, `<=`; `@a:[1 TO 5]`, `{1 TO 5}`, `[1 TO 5}`, `[* TO 5]`;
//! `CIDR(@network.client.ip, 10.0.0.0/8, 2001:db8::/32)`; `\` escapes any character.
//! Precedence: `NOT` > `AND` > `OR`, so `a OR b c` is `a OR (b AND c)`.
//!
//! # Choices Datadog does not document
//!
//! - **Words.** Free text is matched on words: maximal runs of alphanumeric characters and
//!   `_`; everything else separates words and cannot be searched in the message (as
//!   Datadog says of special characters). A query term is split the same way, so
//!   `foo.bar` or `"foo bar"` match the consecutive words `foo`, `bar` (`foo-bar` in the
//!   message too). A wildcard term is matched per word (`*` never crosses a word
//!   boundary); `"*test*"` (quoted, so literal) is the word `test`. A term with no word in
//!   it (`"!!"`) matches any log with a message. The tantivy store must tokenize alike.
//! - **Case.** Free text, tag keys and values and `status` are case-insensitive (the parser
//!   lowercases constants); `host`, `source`, `service`, `trace_id` and attributes are
//!   case-sensitive. Key names (`Service:`, `ENV:`) are case-insensitive.
//! - **Typed equality.** `@a:200` matches JSON `200`, `200.0` and the string `"200"` (not
//!   `"200.0"`); `@a:true` matches JSON `true` and `"true"`; null matches nothing and is
//!   not "existing". Numbers are `f64` (integers beyond 2^53 compare approximately).
//! - **Ranges and comparisons** are numeric when the bound and the value are both numbers
//!   (a numeric string counts), else lexicographic by Unicode scalar values (lowercased on
//!   case-insensitive fields); each bound is judged on its own. `[* TO *]` is `Exists`.
//!   A wildcard or range on a JSON number applies to its JSON spelling (`@code:2*`).
//! - **Arrays** match when any element matches, also arrays met along the path
//!   (`@Event.Data.Name:x` over `{"Event":{"Data":[{"Name":"x"}]}}`); an array, even
//!   empty, "exists". A key containing dots (`{"aws.firehose.arn": ..}`) is found by the
//!   dotted path too; `\.` in a path is a dot inside one key.
//! - **Values.** Right after `key:` a leading `-` is part of the value (`@delta:-5`); inside
//!   `key:( )` a `-` before a digit is a negative number, otherwise negation. A `:` inside a
//!   value is literal (`@t:12:30`), but write `\:` for portability. `*:term` (full-text
//!   search over all attributes) is rejected: Datadog disallows it in pipeline filters.
//! - **CIDR** takes one field and one or more blocks; IPv4-mapped IPv6 values match IPv4
//!   blocks; a bare address is a full-length block. On free text, ranges and `CIDR` apply
//!   to the whole message; a range or comparison without a field (`[a TO b]`, `>5`)
//!   applies to the message, as Lucene's default field.
//! - **Tags** `key:value` match tags whose text before the first `:` is the key; bare tags
//!   are matched only by `tags:value`.
//!
//! # Why not Vector's `vrl` search parser
//!
//! `vrl`'s `datadog_search` feature parses this syntax with a pest grammar, but:
//! - it is heavy for our 2-core CI: the feature alone pulls `pest`, `pest_derive` (a
//!   proc-macro), `itertools`, `regex` and `once_cell`, and vrl's default features add
//!   the VRL compiler, `lalrpop` and `onig` (a C library, via Datadog grok);
//! - its AST (`QueryNode`) is string-typed: fields are plain `String`s (tag, reserved
//!   field or `@attribute` left for the consumer to tell apart), wildcards stay raw
//!   strings, and comparisons and ranges are separate node kinds. We need an explicit,
//!   store-neutral tree that the tantivy store and ClickHouse compile, so we would translate
//!   it anyway;
//! - its matcher evaluates VRL `Value`s, not our log model with reserved fields and
//!   `key:value` tags;
//! - its grammar has no `CIDR()`, and its errors are pest's, not the character positions
//!   our API returns in its 400 answers.
//!
//! The hand-written parser is about 550 lines.
//!
//! # Performance
//!
//! Every ingested log is tested against every pipeline filter, so [`Query::matches`] does
//! not allocate: constants are lowercased and wildcard patterns compiled at parse time,
//! message words are iterated in place, and numbers are formatted into a stack buffer. A
//! test (`tests/no_alloc.rs`) checks this with a counting global allocator. Sanity figures,
//! not a benchmark (one run, release build, the 2-core dev box under load): the seed's
//! `service:aws source:aws` ~50 ns per log; an attribute range plus existence plus CIDR
//! ~110 ns; a free-text word absent from a 100-character message ~400 ns (free text walks
//! every word of the message, so it is the costly case; prefer fields in hot filters).

#![warn(missing_docs)]

pub mod ast;
mod display;
pub mod document;
pub mod eval;
mod parse;

pub use ast::{parse_number, Bound, Cidr, Field, Pattern, PatternPart, Predicate, Query, Reserved, Term};
pub use document::{json_path, map_path, Document, JsonLog};
pub use parse::{parse, ParseError};

/// Lowercases one character (the first char of its lowercase mapping), as the parser does
/// to constants and the evaluator to document values on case-insensitive fields.
pub fn fold(c: char) -> char {
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        c.to_lowercase().next().unwrap_or(c)
    }
}

/// Whether `c` belongs to a word of free text: alphanumeric or `_`.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}
