//! Syntax trees printed as `.wmap` text. Commands that write mappings
//! (`invert`, `infer`) build a [`Document`] of statements and comments and
//! print it here; [`Document::text`] then hands it to the formatter, so
//! what they write has the layout of `wmap fmt`.

use super::ast::*;
use super::format::{quote, quote_pattern};

/// A mapping being written: statements, comments and blank lines.
#[derive(Debug, Clone, Default)]
pub struct Document {
    entries: Vec<Entry>,
}

/// One line (or statement) of a [`Document`].
#[derive(Debug, Clone)]
pub enum Entry {
    /// `# text`, on a line of its own.
    Comment(String),
    /// An empty line between groups of statements.
    Blank,
    /// A statement, printed on one line and then laid out by the formatter.
    Item(Item),
}

impl Document {
    /// An empty document.
    pub fn new() -> Document {
        Document::default()
    }

    /// Adds a whole-line comment; control characters in `text` are shown
    /// escaped, so a comment stays one line.
    pub fn comment(&mut self, text: &str) {
        self.entries
            .push(Entry::Comment(crate::text::printable(text).into_owned()));
    }

    /// Adds a blank line (never two in a row, never at the start).
    pub fn blank(&mut self) {
        if !matches!(self.entries.last(), None | Some(Entry::Blank)) {
            self.entries.push(Entry::Blank);
        }
    }

    /// Adds a statement.
    pub fn item(&mut self, item: Item) {
        self.entries.push(Entry::Item(item));
    }

    /// Adds every entry of `other`.
    pub fn extend(&mut self, other: Document) {
        self.entries.extend(other.entries);
    }

    /// Whether nothing has been added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The document as text, laid out by the formatter.
    pub fn text(&self) -> String {
        let mut raw = String::new();
        for entry in &self.entries {
            match entry {
                Entry::Comment(c) => {
                    raw.push_str("# ");
                    raw.push_str(c);
                }
                Entry::Blank => {}
                Entry::Item(i) => raw.push_str(&item(i)),
            }
            raw.push('\n');
        }
        super::format::format(&raw).unwrap_or(raw)
    }
}

/// One statement, on one line.
pub fn item(item: &Item) -> String {
    match item {
        Item::Version(v) => format!("wmap {}", v.value),
        Item::Target(t) => format!("target {}", t.value),
        Item::TargetFile(t) => format!("target {}", quote(&t.value)),
        Item::Use(u) => format!("use {}", quote(&u.value)),
        Item::UseUnder(u) if u.to == u.from => {
            format!("use {} under {}", quote(&u.path.value), quote(&u.from))
        }
        Item::UseUnder(u) => format!(
            "use {} under {} -> {}",
            quote(&u.path.value),
            quote(&u.from),
            quote(&u.to)
        ),
        Item::Let(l) => format!("let {} = {}", l.name.value, expr(&l.value)),
        Item::Words(w) => format!(
            "words {} = {}",
            w.name.value,
            w.words
                .iter()
                .map(|w| w.value.as_str())
                .collect::<Vec<_>>()
                .join(" | ")
        ),
        Item::Cast(c) => format!("cast {} -> {}", c.from.value, c.to.value),
        Item::Op(o) => op_def(o),
        Item::Rule(r) => rule(r),
        Item::Drop(d) => format!(
            "{}drop {}",
            if d.optional { "optional " } else { "" },
            matcher(&d.matcher)
        ),
        Item::Tie(t) => format!(
            "{}tie {} = {}",
            if t.optional { "optional " } else { "" },
            pattern(&t.copy),
            pattern(&t.original)
        ),
        Item::Write(w) => {
            let from = if w.from_config { " from config" } else { "" };
            let mut text = format!("write {}{from} {{\n", quote(&w.file.value));
            for e in &w.entries {
                text += &format!("    {} = {}\n", e.key.value, json(&e.value));
            }
            text + "}"
        }
    }
}

/// A value of a `write`.
pub fn json(v: &JsonExpr) -> String {
    match v {
        JsonExpr::Literal(l) => match &l.value {
            serde_json::Value::String(s) => quote(s),
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(x) if n.is_f64() => float(x),
                _ => n.to_string(),
            },
            other => other.to_string(),
        },
        JsonExpr::List(items) => format!(
            "[{}]",
            items.value.iter().map(json).collect::<Vec<_>>().join(", ")
        ),
        JsonExpr::Default { key, or } => format!("{} ?? {}", expr(key), json(or)),
        JsonExpr::Expr(e) => expr(e),
    }
}

/// `op name(a, b) = call | call`.
pub fn op_def(o: &OpDef) -> String {
    let params = if o.params.is_empty() {
        String::new()
    } else {
        let names: Vec<&str> = o.params.iter().map(|p| p.value.as_str()).collect();
        format!("({})", names.join(", "))
    };
    let body: Vec<String> = o.body.iter().map(stage).collect();
    format!("op {}{params} = {}", o.name.value, body.join(" | "))
}

/// `SOURCES | calls -> TARGETS`, with its `optional` or `fallback`.
pub fn rule(r: &Rule) -> String {
    let mut prefix = match (r.optional, r.fallback) {
        (_, true) => "fallback ",
        (true, false) => "optional ",
        _ => "",
    }
    .to_string();
    let mut source = matcher(&r.sources);
    let mut ranges = String::new();
    match &r.reads {
        Reads::Claims => {}
        Reads::Shares => prefix.push_str("also "),
        Reads::Makes(made) => {
            prefix.push_str("make ");
            source = if made.like {
                format!("{} like {source}", call(&made.fill))
            } else {
                call(&made.fill)
            };
            if !made.ranges.is_empty() {
                let list: Vec<String> = made
                    .ranges
                    .iter()
                    .map(|x| {
                        format!(
                            "{} in {}..{}",
                            x.capture.value,
                            expr(&x.start),
                            expr(&x.end)
                        )
                    })
                    .collect();
                ranges = format!(" for {}", list.join(", "));
            }
        }
    }
    let pipeline: String = r
        .pipeline
        .iter()
        .map(|c| format!(" | {}", stage(c)))
        .collect();
    let targets = match &r.targets {
        Targets::Patterns(ps) => patterns(ps),
        Targets::Template(t) => quote(&t.value),
    };
    let when = match &r.when {
        Some(e) => format!(" when {}", expr(e)),
        None => String::new(),
    };
    format!("{prefix}{source}{pipeline} -> {targets}{ranges}{when}")
}

fn matcher(m: &Matcher) -> String {
    match m {
        Matcher::Patterns(ps) => patterns(ps),
        Matcher::Regex(r) => format!("regex {}", quote(&r.value)),
    }
}

fn patterns(ps: &[Pattern]) -> String {
    match ps {
        [one] => pattern(one),
        many => format!(
            "[{}]",
            many.iter().map(pattern).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A pattern, quoted.
pub fn pattern(p: &Pattern) -> String {
    quote_pattern(&p.display())
}

/// One stage: a call, or `[_, call | call]`.
pub fn stage(s: &Stage) -> String {
    match s {
        Stage::Call(c) => call(c),
        Stage::Branches(b) => {
            let arms: Vec<String> = b
                .arms
                .iter()
                .map(|arm| {
                    if arm.stages.is_empty() {
                        "_".to_string()
                    } else {
                        arm.stages.iter().map(stage).collect::<Vec<_>>().join(" | ")
                    }
                })
                .collect();
            format!("[{}]", arms.join(", "))
        }
    }
}

/// `name` or `name(args)`.
pub fn call(c: &OpCall) -> String {
    if c.args.is_empty() {
        return c.name.value.clone();
    }
    let args: Vec<String> = c
        .args
        .iter()
        .map(|a| match &a.name {
            Some(n) => format!("{}={}", n.value, arg_value(&a.value)),
            None => arg_value(&a.value),
        })
        .collect();
    format!("{}({})", c.name.value, args.join(", "))
}

/// An argument: an expression, a decimal number or a list.
pub fn arg_value(v: &ArgValue) -> String {
    match v {
        ArgValue::Expr(e) => expr(e),
        ArgValue::Float(f) => float(f.value),
        ArgValue::List(l) => format!(
            "[{}]",
            l.value.iter().map(arg_value).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A decimal number as the grammar reads it back: always with a fraction
/// or an exponent, so it is not taken for an integer.
pub fn float(x: f64) -> String {
    let s = format!("{x}");
    if s.contains('.') || s.contains('e') || !x.is_finite() {
        s
    } else {
        format!("{s}.0")
    }
}

/// How tightly an expression binds; a child that binds less tightly than
/// its place needs is put in parentheses.
fn level(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Coalesce(..) => 0,
        ExprKind::Binary(BinOp::Add | BinOp::Sub, ..) => 1,
        ExprKind::Binary(BinOp::Mul | BinOp::Div, ..) => 2,
        ExprKind::Neg(_) => 3,
        ExprKind::Int(_) | ExprKind::Name(_) | ExprKind::Config(_) | ExprKind::Shape { .. } => 4,
    }
}

fn at(e: &Expr, min: u8) -> String {
    if level(e) < min {
        format!("({})", expr(e))
    } else {
        expr(e)
    }
}

/// An integer expression, with the parentheses its meaning needs.
pub fn expr(e: &Expr) -> String {
    match &e.kind {
        // A literal too large for 64 bits is reported when parsed; nothing
        // that checked holds one.
        ExprKind::Int(v) => v.map(|v| v.to_string()).unwrap_or_else(|| "0".into()),
        ExprKind::Name(n) => n.clone(),
        ExprKind::Config(path) => format!("config.{}", path.join(".")),
        ExprKind::Shape { tensor: None, axis } => format!("shape[{}]", expr(axis)),
        ExprKind::Shape {
            tensor: Some(name),
            axis,
        } => format!("shape({})[{}]", quote(&name.value), expr(axis)),
        ExprKind::Neg(inner) => format!("-{}", at(inner, 3)),
        ExprKind::Binary(op, a, b) => {
            let l = level(e);
            // Left-associative: the right operand of `a - (b - c)` keeps its
            // parentheses.
            format!("{} {} {}", at(a, l), op.symbol(), at(b, l + 1))
        }
        ExprKind::Coalesce(a, b) => format!("{} ?? {}", at(a, 0), at(b, 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    /// Every statement of `text`, parsed and printed back.
    fn reprint(text: &str) -> String {
        let module = crate::syntax::parse(FileId(0), text).expect("parses");
        let mut doc = Document::new();
        for i in module.items {
            doc.item(i);
        }
        doc.text()
    }

    #[test]
    fn statements_print_back_as_written() {
        let text = "wmap 1\n\
            use \"std/torch\"\n\
            let h = config.n_head ?? 12\n\
            let d = (h + 1) * 64 - (2 - 1)\n\
            let n = -(h / 2)\n\
            op heads(n) = reshape(n, -1, shape[1]) | permute(1, 0, 2)\n\
            cast bf16 -> f32\n\
            \"a.{i}.w\" | split(axis=0, sizes=[1, 2]) | mul(0.5) -> [\"b.{i}.x\", \"b.{i + 1}.y\"]\n\
            optional drop \"c.{x:**}\"\n\
            tie \"t\" = \"u\"\n\
            regex \"^r\\\\.(\\\\d+)$\" -> \"s.$1\"\n";
        let once = reprint(text);
        assert_eq!(once, crate::syntax::format::format(text).unwrap());
        assert_eq!(reprint(&once), once);
    }

    #[test]
    fn floats_keep_a_fraction() {
        assert_eq!(float(2.0), "2.0");
        assert_eq!(float(0.25), "0.25");
        assert_eq!(float(-1.0), "-1.0");
    }
}
