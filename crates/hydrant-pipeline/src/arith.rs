//! The arithmetic processor's formulas, parsed once.
//!
//! Grammar: numbers, attribute paths (letters, digits, `_`, `.`, `-`, `@`: so `end-time`
//! is one attribute and the `-` operator needs spaces around it, as Datadog says),
//! `+ - * / %`, unary `-`, parentheses, and the functions `abs(x)`, `ceil(x)`, `floor(x)`,
//! `round(x)` / `round(x, digits)`. Usual precedence; left-associative.
//!
//! Evaluation: an attribute is missing when absent or not convertible to a number
//! (numeric strings convert); then the computation is skipped, or the attribute counts as
//! 0 with `is_replace_missing`. Division or modulo by zero skips the computation. The result
//! is rounded to 9 decimals (Datadog) and written as an integer when whole.

use crate::path::{self, AttrPath};
use hydrant_log::Log;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Num(f64),
    Attr(AttrPath),
    Neg(Box<Expr>),
    Bin(char, Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    Abs,
    Ceil,
    Floor,
    Round,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Op(char),
}

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let text: String = chars[start..i].iter().collect();
            let n = text.parse().map_err(|_| format!("invalid number `{text}` at position {start}"))?;
            out.push((start, Tok::Num(n)));
        } else if c.is_alphabetic() || c == '_' || c == '@' {
            while i < chars.len() && (chars[i].is_alphanumeric() || "_.-@".contains(chars[i])) {
                i += 1;
            }
            out.push((start, Tok::Ident(chars[start..i].iter().collect())));
        } else if "+-*/%(),".contains(c) {
            out.push((start, Tok::Op(c)));
            i += 1;
        } else {
            return Err(format!("unexpected `{c}` at position {start}"));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    len: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.len, |(p, _)| *p)
    }
    fn eat(&mut self, op: char) -> bool {
        if self.peek() == Some(&Tok::Op(op)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expr(&mut self) -> Result<Expr, String> {
        let mut left = self.term()?;
        while let Some(Tok::Op(op @ ('+' | '-'))) = self.peek().cloned() {
            self.pos += 1;
            left = Expr::Bin(op, Box::new(left), Box::new(self.term()?));
        }
        Ok(left)
    }
    fn term(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while let Some(Tok::Op(op @ ('*' | '/' | '%'))) = self.peek().cloned() {
            self.pos += 1;
            left = Expr::Bin(op, Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat('-') {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.eat('+') {
            return self.unary();
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Expr, String> {
        let at = self.at();
        match self.peek().cloned() {
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(Expr::Num(n))
            }
            Some(Tok::Ident(name)) => {
                self.pos += 1;
                if self.eat('(') {
                    let func = match name.to_ascii_lowercase().as_str() {
                        "abs" => Func::Abs,
                        "ceil" => Func::Ceil,
                        "floor" => Func::Floor,
                        "round" => Func::Round,
                        _ => return Err(format!("unknown function `{name}` at position {at}")),
                    };
                    let mut args = vec![self.expr()?];
                    while self.eat(',') {
                        args.push(self.expr()?);
                    }
                    if !self.eat(')') {
                        return Err(format!("expected `)` at position {}", self.at()));
                    }
                    let arity_ok = match func {
                        Func::Round => args.len() <= 2,
                        _ => args.len() == 1,
                    };
                    if !arity_ok {
                        return Err(format!("wrong number of arguments to `{name}` at position {at}"));
                    }
                    Ok(Expr::Call(func, args))
                } else {
                    Ok(Expr::Attr(AttrPath::new(&name)))
                }
            }
            Some(Tok::Op('(')) => {
                self.pos += 1;
                let e = self.expr()?;
                if !self.eat(')') {
                    return Err(format!("expected `)` at position {}", self.at()));
                }
                Ok(e)
            }
            Some(Tok::Op(c)) => Err(format!("unexpected `{c}` at position {at}")),
            None => Err(format!("unexpected end of expression at position {at}")),
        }
    }
}

/// Parses a formula.
pub(crate) fn parse(s: &str) -> Result<Expr, String> {
    let toks = lex(s)?;
    let mut p = Parser { toks, pos: 0, len: s.chars().count() };
    if p.toks.is_empty() {
        return Err("empty expression".to_string());
    }
    let e = p.expr()?;
    if p.pos < p.toks.len() {
        return Err(format!("unexpected `{}` at position {}", tok_text(&p.toks[p.pos].1), p.at()));
    }
    Ok(e)
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Num(n) => n.to_string(),
        Tok::Ident(s) => s.clone(),
        Tok::Op(c) => c.to_string(),
    }
}

fn to_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

impl Expr {
    /// Evaluates on a log; `None` skips the computation.
    pub fn eval(&self, log: &Log, replace_missing: bool) -> Option<f64> {
        Some(match self {
            Expr::Num(n) => *n,
            Expr::Attr(p) => match path::get(log, p).and_then(|v| to_number(&v)) {
                Some(n) => n,
                None if replace_missing => 0.0,
                None => return None,
            },
            Expr::Neg(e) => -e.eval(log, replace_missing)?,
            Expr::Bin(op, a, b) => {
                let (a, b) = (a.eval(log, replace_missing)?, b.eval(log, replace_missing)?);
                match op {
                    '+' => a + b,
                    '-' => a - b,
                    '*' => a * b,
                    '/' if b != 0.0 => a / b,
                    '%' if b != 0.0 => a % b,
                    _ => return None,
                }
            }
            Expr::Call(f, args) => {
                let x = args[0].eval(log, replace_missing)?;
                match f {
                    Func::Abs => x.abs(),
                    Func::Ceil => x.ceil(),
                    Func::Floor => x.floor(),
                    Func::Round => {
                        let digits = match args.get(1) {
                            Some(d) => d.eval(log, replace_missing)?.clamp(0.0, 15.0) as i32,
                            None => 0,
                        };
                        let m = 10f64.powi(digits);
                        (x * m).round() / m
                    }
                }
            }
        })
        .filter(|x| x.is_finite())
    }
}

/// Datadog rounds results to the 9th decimal.
pub(crate) fn round9(x: f64) -> f64 {
    let r = (x * 1e9).round() / 1e9;
    if r.is_finite() {
        r
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expr: &str, attrs: Value, replace: bool) -> Option<f64> {
        let mut log = Log::new(0);
        log.attributes = attrs.as_object().unwrap().clone();
        parse(expr).unwrap().eval(&log, replace)
    }

    #[test]
    fn formulas() {
        assert_eq!(
            eval("(end-time - start-time) / 1000", json!({"end-time": 5000, "start-time": 1000}), false),
            Some(4.0)
        );
        assert_eq!(eval("1 + 2 * 3 - -1", json!({}), false), Some(8.0));
        assert_eq!(eval("a.b * 2 % 5", json!({"a": {"b": "4"}}), false), Some(3.0));
        assert_eq!(eval("x + 1", json!({}), false), None);
        assert_eq!(eval("x + 1", json!({}), true), Some(1.0));
        assert_eq!(eval("x + 1", json!({"x": "abc"}), false), None);
        assert_eq!(eval("1 / 0", json!({}), false), None);
        assert_eq!(
            eval("round(2.345, 2) + abs(-1) + floor(1.9) + ceil(0.1)", json!({}), false).map(round9),
            Some(5.35)
        );
        assert!(parse("(1 + 2").unwrap_err().contains("position 6"));
        assert!(parse("1 + * 2").unwrap_err().contains("position 4"));
        assert!(parse("foo(1)").unwrap_err().contains("unknown function"));
        assert!(parse("1 $ 2").is_err());
        assert!(parse("").is_err());
        assert_eq!(round9(0.1234567891), 0.123456789);
    }
}
