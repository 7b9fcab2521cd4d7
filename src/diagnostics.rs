//! Every problem wmap reports about a mapping, as data, and the one place
//! where their wording lives. [`render`] draws them with miette.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};

use crate::dtype::DType;
use crate::source::{SourceMap, Span};

/// A shape, printed as `[768, 2304]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeText(pub Vec<u64>);

impl fmt::Display for ShapeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

/// One problem in a mapping. Each kind has its own variant so that tools and
/// tests can tell them apart; [`Diagnostic::code`] names it.
#[derive(Debug, Clone, PartialEq)]
pub enum Diagnostic {
    /// The text does not follow the grammar.
    Syntax {
        /// Where parsing stopped, covering what was found there.
        span: Span,
        /// What the grammar accepts there, in words; empty when nothing in particular.
        expected: Vec<String>,
        /// What is there instead, in words.
        found: String,
    },
    /// A file that is not UTF-8 text.
    NotUtf8 {
        /// The first byte that is not UTF-8.
        span: Span,
    },
    /// A literal or a computed integer does not fit in 64 bits.
    IntegerOverflow {
        /// The literal, the expression, or the `reshape` call.
        span: Span,
        /// What overflowed.
        what: Overflowed,
    },
    /// `wmap N` with an N this build does not know.
    UnsupportedVersion {
        /// The version number.
        span: Span,
        /// The version written.
        found: u64,
    },
    /// `wmap N` anywhere but the first statement of a file.
    MisplacedVersion {
        /// The version number.
        span: Span,
    },
    /// A `use` that names no stdlib module and no readable file.
    UseNotFound {
        /// The `use` string.
        span: Span,
        /// The `use` string as written.
        path: String,
        /// Why it was not found.
        reason: UseProblem,
        /// A stdlib module with a similar name, if any.
        suggestion: Option<String>,
    },
    /// A chain of `use` that comes back to where it started.
    ImportCycle {
        /// The `use` that closes the cycle.
        span: Span,
        /// The names of the files on the cycle, from the first back to it.
        chain: Vec<String>,
    },
    /// `target X` for a model wmap has no burn implementation of.
    UnknownTargetModel {
        /// The model name.
        span: Span,
        /// The model named.
        found: String,
        /// The target models this build knows.
        known: Vec<String>,
    },
    /// Two `target` declarations that disagree.
    ConflictingTargetModel {
        /// This declaration's model name (the primary label).
        span: Span,
        /// The earlier declaration's model name.
        previous: Span,
        /// The model this declaration names.
        found: String,
        /// The model the earlier declaration names.
        other: String,
    },
    /// A `let` or `op` defined twice.
    DuplicateDefinition {
        /// The second definition's name (the primary label).
        span: Span,
        /// The first definition's name.
        previous: Span,
        /// What kind of definition: `let`, `op` or `words`.
        what: &'static str,
        /// The name defined twice.
        name: String,
    },
    /// A name that is no `let`, parameter or op argument in scope.
    UnknownName {
        /// The name where it is used.
        span: Span,
        /// The name.
        name: String,
        /// A name in scope close to it, if any.
        suggestion: Option<String>,
    },
    /// `shape("name")[k]` naming a tensor the source does not hold.
    UnknownTensor {
        /// The quoted name.
        span: Span,
        /// The name.
        name: String,
        /// A source tensor's name close to it, if any.
        suggestion: Option<String>,
    },
    /// `config.a.b` where config.json has no such key (or there is no config).
    UnknownConfigKey {
        /// The `config.` reference, or the whole `??` chain when every key in it is missing.
        span: Span,
        /// The key, dotted, without `config.`.
        path: String,
        /// The other keys of a `??` chain in which every key is missing.
        also: Vec<String>,
        /// The config file's name; `None` when there is no config.
        config: Option<String>,
        /// A key of the config close to `path`, written `config.KEY`.
        suggestion: Option<String>,
    },
    /// `config.a.b` holds something other than an integer.
    ConfigNotInteger {
        /// The `config.` reference.
        span: Span,
        /// The key, dotted, without `config.`.
        path: String,
        /// What the key holds, in words (`the string "gelu"`).
        found: String,
    },
    /// `a / b` where b does not divide a.
    InexactDivision {
        /// The division.
        span: Span,
        /// The dividend.
        lhs: i64,
        /// The divisor.
        rhs: i64,
    },
    /// `a / 0`.
    DivisionByZero {
        /// The division.
        span: Span,
    },
    /// An op name that is neither built in nor defined with `op`.
    UnknownOp {
        /// The op name at the call.
        span: Span,
        /// The op name.
        name: String,
        /// A known op name close to it, if any.
        suggestion: Option<String>,
    },
    /// The plan's targets are not the tensors the `target` model expects
    /// (computed from the output's config), or those cannot be computed.
    TargetMismatch {
        /// The `target` declaration; none for `--target PATH`.
        span: Option<Span>,
        /// The model named, or the file given.
        model: String,
        /// Whether `model` is a file (a checkpoint or a spec), not a model.
        file: bool,
        /// What differs.
        fit: Box<TargetFit>,
    },
    /// `target "PATH"` naming a file that is not a readable checkpoint or spec.
    UnreadableTarget {
        /// The path as written.
        span: Span,
        /// The path as written.
        path: String,
        /// Why it could not be read.
        why: String,
    },
    /// A `write` of a file name that is not a plain `.json` name.
    InvalidFileName {
        /// The name as written.
        span: Span,
        /// The name.
        name: String,
        /// What a name must be.
        why: &'static str,
    },
    /// A fill (`zeros`, `ones`, `full`) in a pipeline, or a `make` rule
    /// that starts with another op.
    MisplacedFill {
        /// The call.
        span: Span,
        /// The op called.
        op: String,
        /// Whether the call is in a pipeline (rather than after `make`).
        in_pipeline: bool,
    },
    /// Branches `[..]` that do not fit the values entering them.
    BadBranches {
        /// The branches, or the call in an arm.
        span: Span,
        /// What is wrong.
        problem: BranchProblem,
    },
    /// An `op` definition that calls itself, directly or through others.
    RecursiveOp {
        /// The call that closes the cycle.
        span: Span,
        /// The ops on the cycle, from the first back to it.
        chain: Vec<String>,
    },
    /// An op called with arguments that do not fit its signature.
    BadArguments {
        /// The call, or the argument at fault.
        span: Span,
        /// The op called.
        op: String,
        /// What is wrong.
        problem: ArgProblem,
    },
    /// A dtype name that is not one of the language's dtypes.
    UnknownDtype {
        /// The dtype name.
        span: Span,
        /// The name written.
        name: String,
        /// A dtype name close to it, if any.
        suggestion: Option<String>,
    },
    /// Two global `cast` rules that both apply to one dtype.
    ConflictingCast {
        /// The later cast (the primary label).
        span: Span,
        /// The earlier cast that applies to the same dtype.
        previous: Span,
        /// The dtype both apply to.
        dtype: DType,
    },
    /// A target (or stack/unstack) uses a capture its sources do not bind.
    UnboundCapture {
        /// The capture, or the `stack`/`unstack` call.
        span: Span,
        /// The capture's name.
        name: String,
        /// The names of the captures the sources do bind.
        bound: Vec<String>,
    },
    /// A capture used in a way its kind does not allow.
    BadCapture {
        /// The capture.
        span: Span,
        /// What is wrong with it.
        problem: CaptureProblem,
    },
    /// The patterns of a source list bind different captures.
    MismatchedCaptures {
        /// The whole source list.
        span: Span,
        /// The captures the first pattern binds.
        first: Vec<String>,
        /// The captures of a pattern that binds others.
        other: Vec<String>,
    },
    /// A `regex` that does not compile, or a template that names no group.
    InvalidRegex {
        /// The regex, the template or the rule.
        span: Span,
        /// What is wrong.
        problem: RegexProblem,
    },
    /// `wmap invert`: a statement whose effect has no exact inverse.
    NotInvertible {
        /// The statement or op call.
        span: Span,
        /// Why it cannot be undone.
        why: Irreversible,
    },
    /// Source tensors that no rule, drop or fallback takes (one per pattern).
    UnmappedTensors {
        /// The unmapped tensors' names, collapsed into one pattern.
        pattern: String,
        /// How many tensors the pattern stands for.
        count: usize,
        /// The name of one of them.
        example: String,
    },
    /// One source tensor matched by two rules.
    AmbiguousMatch {
        /// The source tensor's name.
        tensor: String,
        /// The source pattern that matches it first.
        first: Span,
        /// Another source pattern that matches it (the primary label).
        second: Span,
    },
    /// Two rules (or one rule twice) producing the same target name.
    DuplicateTarget {
        /// The target name.
        target: String,
        /// The target pattern that produced it first.
        first: Span,
        /// The target pattern that produced it again (the primary label).
        second: Span,
    },
    /// A rule or drop that matches no source tensor.
    UnmatchedRule {
        /// The rule or drop.
        span: Span,
        /// `rule` or `drop`.
        what: &'static str,
        /// Its source patterns, as written, joined by `", "`.
        pattern: String,
        /// Up to three patterns of the checkpoint's names close to the first source pattern.
        suggestions: Vec<String>,
    },
    /// A source list where some, not all, names exist for a binding.
    IncompleteSourceGroup {
        /// The source pattern that names no tensor.
        span: Span,
        /// The binding, as `i = 3, e = 0`.
        binding: String,
        /// The name that pattern gives for the binding.
        missing: String,
        /// The names of the group's tensors that exist.
        present: Vec<String>,
    },
    /// The pipeline ends with a different number of values than targets.
    ArityMismatch {
        /// The pipeline's last call, or the rule when it has none.
        span: Span,
        /// The number of values the pipeline ends with.
        produced: usize,
        /// The number of target patterns.
        targets: usize,
    },
    /// An op that needs one value got several, or the reverse.
    ArityForOp {
        /// The call.
        span: Span,
        /// The op called.
        op: String,
        /// What the op takes, in words (`one value`).
        needs: &'static str,
        /// The number of values the pipeline carries there.
        found: usize,
    },
    /// `reshape` to a shape with another element count.
    ElementCountMismatch {
        /// The `reshape` call.
        span: Span,
        /// The value reshaped, named by its first source tensor.
        tensor: String,
        /// The value's shape.
        from: ShapeText,
        /// The shape asked for.
        to: ShapeText,
    },
    /// `split` into parts or sizes that do not fit the axis.
    IndivisibleSplit {
        /// The `split` call.
        span: Span,
        /// The value split, named by its first source tensor.
        tensor: String,
        /// The value's shape.
        shape: ShapeText,
        /// The axis split, counted from 0.
        axis: usize,
        /// How the parts or sizes do not fit.
        how: SplitProblem,
    },
    /// An axis index beyond the tensor's rank.
    AxisOutOfRange {
        /// Where the axis is given (an argument or `shape[k]`), or the call.
        span: Span,
        /// The value, named by its first source tensor.
        tensor: String,
        /// The axis as written; negative ones count from the end.
        axis: i64,
        /// The value's shape.
        shape: ShapeText,
    },
    /// `permute` that is not a permutation of the axes, `transpose` of a non-2-D tensor.
    BadPermutation {
        /// The call.
        span: Span,
        /// The value, named by its first source tensor.
        tensor: String,
        /// The value's shape.
        shape: ShapeText,
        /// What is wrong with the axes.
        problem: PermutationProblem,
    },
    /// `slice` with a range outside the axis.
    SliceOutOfRange {
        /// The `slice` call.
        span: Span,
        /// The value sliced, named by its first source tensor.
        tensor: String,
        /// The value's shape.
        shape: ShapeText,
        /// The axis sliced, counted from 0.
        axis: usize,
        /// The start, a negative one already counted from the end.
        start: i64,
        /// The end (exclusive), a negative one already counted from the end.
        end: i64,
    },
    /// `index_select` of an index outside the axis.
    IndexOutOfRange {
        /// Where the index is written.
        span: Span,
        /// The value indexed, named by its first source tensor.
        tensor: String,
        /// The value's shape.
        shape: ShapeText,
        /// The axis indexed, counted from 0.
        axis: usize,
        /// The index as written; negative ones count from the end.
        index: i64,
    },
    /// `concat`/`stack` of tensors whose other axes differ.
    IncompatibleConcat {
        /// The call.
        span: Span,
        /// The op: `concat`, `stack` or `unstack`.
        op: &'static str,
        /// The axis the op works along, counted from 0.
        axis: usize,
        /// Each input, named by its first source tensor, with its shape.
        shapes: Vec<(String, ShapeText)>,
    },
    /// `stack(c)` over values of c that are not exactly 0..n-1.
    NonContiguousStack {
        /// The `stack` call.
        span: Span,
        /// The capture stacked over.
        capture: String,
        /// The binding of the other captures (`i = 3`); empty when there are none.
        group: String,
        /// The values the capture took.
        found: Vec<String>,
    },
    /// An implicit conversion that would lose information.
    NarrowingCast {
        /// The call that joins them.
        span: Span,
        /// The dtype that would be converted.
        from: DType,
        /// The dtype it would be converted to.
        to: DType,
        /// The op that joins them (`concat`, `stack`).
        op: &'static str,
    },
    /// `add`/`mul` on a tensor that is not floating point.
    NotFloat {
        /// The call.
        span: Span,
        /// The op: `add` or `mul`.
        op: String,
        /// The value, named by its first source tensor.
        tensor: String,
        /// The value's dtype.
        dtype: DType,
    },
    /// An op on a dtype it is not defined for: element moves on packed
    /// dtypes, computation in or casts into dtypes wmap does not encode.
    UnsupportedDtype {
        /// The call (or the global cast's target).
        span: Span,
        /// The op.
        op: String,
        /// The dtype in question.
        dtype: DType,
        /// What is not defined.
        problem: DtypeProblem,
    },
    /// A decimal number that cannot be held where it is used: infinite (or a
    /// nonzero number that is 0) as an f64 (`op` is None), or, in `add` and
    /// `mul`, in the dtype the operation computes in (`mul(1e39)` on f32).
    NumberOutOfRange {
        /// The number.
        span: Span,
        /// The number, as written or in short form (`1e39`).
        text: String,
        /// The dtype it is held in.
        dtype: DType,
        /// What it becomes there (`infinite`, `0`).
        becomes: String,
        /// The op that uses it; `None` when it does not fit an f64 at all.
        op: Option<String>,
    },
    /// `shape[k]` where the pipeline's inputs disagree on axis k.
    AmbiguousShape {
        /// The `shape[k]` expression.
        span: Span,
        /// Why it has no single value.
        problem: ShapeProblem,
    },
    /// A `tie` whose original is not a target of the mapping.
    TieOriginalMissing {
        /// The tie's original pattern.
        span: Span,
        /// The original pattern, as written.
        name: String,
    },
    /// A source pattern too large for the regex engine to compile.
    PatternTooLarge {
        /// The pattern.
        span: Span,
        /// The regex engine's size limit, in bytes.
        limit: usize,
    },
    /// A target name that no safetensors file can hold.
    InvalidTargetName {
        /// The target pattern that makes the name.
        span: Span,
        /// The name made.
        name: String,
        /// Why it cannot be written.
        problem: NameProblem,
    },
    /// The output's header would exceed what readers accept.
    HeaderTooLarge {
        /// The first target whose header entry passes 1 MiB, else the first target.
        span: Span,
        /// The header's size at its widest, in bytes.
        bytes: u64,
        /// The largest header readers accept, in bytes.
        limit: u64,
    },
    /// One source tensor named twice in one rule's source list.
    DuplicateSource {
        /// The source tensor's name.
        tensor: String,
        /// The pattern that names it first.
        first: Span,
        /// The pattern that names it again (the primary label).
        second: Span,
    },
    /// Work that the checkpoint's header would make unbounded.
    LimitExceeded {
        /// The call, or the first target.
        span: Span,
        /// Which bound was passed.
        what: Limit,
        /// How many the work would make.
        found: u64,
        /// The most wmap allows.
        limit: u64,
    },
    /// The checker built no plan and found no reason: a bug in wmap,
    /// reported rather than passed over in silence.
    NoPlan,
}

/// Why a target name cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// `__metadata__`, which the format keeps for its metadata.
    Reserved,
    /// The empty name.
    Empty,
}

/// Which bound was passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Values one op call makes from one value (`unstack`, `split`).
    ValuesFromOneOp,
    /// Target tensors of the whole mapping.
    Targets,
}

impl Limit {
    fn text(self) -> &'static str {
        match self {
            Limit::ValuesFromOneOp => "values from one op call",
            Limit::Targets => "target tensors",
        }
    }
}

/// How a plan's targets differ from what the `target` model expects.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetFit {
    /// Expected tensors the plan does not write: name and shape.
    pub missing: Vec<(String, ShapeText)>,
    /// Tensors the plan writes that the model has no place for.
    pub unexpected: Vec<String>,
    /// Tensors of another shape: name, expected shape, written shape.
    pub misshapen: Vec<(String, ShapeText, ShapeText)>,
    /// Tensors of another dtype (against a checkpoint): name, expected, written.
    pub mistyped: Vec<(String, DType, DType)>,
    /// Why the expected tensors could not be computed, if so.
    pub problem: Option<String>,
}

/// Why a `use` names nothing wmap can read.
#[derive(Debug, Clone, PartialEq)]
pub enum UseProblem {
    /// `std/NAME` for a name the stdlib does not have (`known` are the ones it has).
    NoStdlibModule {
        /// The stdlib's modules.
        known: Vec<String>,
    },
    /// A relative `use` inside the stdlib that names no stdlib module.
    NoSuchStdlibModule,
    /// A path that is no regular file (`kind` says what it is).
    NotAFile {
        /// What it is instead (`a folder`).
        kind: String,
    },
    /// A path where there is nothing.
    NoSuchFile,
    /// A file that could not be read (what the system or reader said).
    Unreadable(String),
}

impl fmt::Display for UseProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UseProblem::NoStdlibModule { known } => write!(
                f,
                "no stdlib module of that name (there are {})",
                known.join(", ")
            ),
            UseProblem::NoSuchStdlibModule => f.write_str("no such stdlib module"),
            UseProblem::NotAFile { kind } => write!(f, "is {kind}, not a file"),
            UseProblem::NoSuchFile => f.write_str("no such file"),
            UseProblem::Unreadable(why) => f.write_str(why),
        }
    }
}

/// What does not fit in 64 bits.
#[derive(Debug, Clone, PartialEq)]
pub enum Overflowed {
    /// An integer literal, as written.
    Literal(String),
    /// The value of an expression.
    Expression,
    /// The element count of a `reshape`'s shape.
    ShapeElements,
}

impl fmt::Display for Overflowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Overflowed::Literal(text) => write!(f, "the literal {text}"),
            Overflowed::Expression => f.write_str("the result of this expression"),
            Overflowed::ShapeElements => f.write_str("the element count of this shape"),
        }
    }
}

/// What an op does not do with a dtype.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DtypeProblem {
    /// An op that moves elements, on a dtype that packs several per byte.
    Packed,
    /// An op that computes values, on a dtype wmap reads but does not write.
    NotComputed,
    /// A cast (or fill) into a dtype wmap does not encode.
    NotWritten,
    /// A cast of complex values to a real dtype.
    Complex,
}

/// Why `shape[k]` has no single value.
#[derive(Debug, Clone, PartialEq)]
pub enum ShapeProblem {
    /// Used outside the arguments of an op in a pipeline.
    OutsidePipeline,
    /// The pipeline's inputs differ on the axis.
    InputsDiffer {
        /// The size on the axis of the first input.
        first: i64,
        /// A different size, of another input.
        other: i64,
        /// The axis as written in `shape[k]`.
        axis: i64,
    },
}

/// How branches `[..]` fail to fit the values entering them.
#[derive(Debug, Clone, PartialEq)]
pub enum BranchProblem {
    /// Not one arm per value.
    Count {
        /// The arms written.
        arms: usize,
        /// The values entering.
        values: usize,
    },
    /// An op that works across bindings (`stack`, `unstack`) in an arm.
    AcrossBindings {
        /// The op called.
        op: String,
    },
}

/// How a capture is misused. `capture` fields hold the capture as written
/// (`{i + 1}`), `name` its name.
#[derive(Debug, Clone, PartialEq)]
pub enum CaptureProblem {
    /// `{i + 1}` in a source pattern.
    ShiftInSource {
        /// The capture as written.
        capture: String,
    },
    /// One capture written with two kinds in one pattern.
    TwoKinds {
        /// The capture's name.
        name: String,
    },
    /// A shifted capture whose value is no integer, or goes below 0.
    NotNonNegative {
        /// The capture as written.
        capture: String,
        /// The capture's name.
        name: String,
        /// The value the capture is bound to.
        value: String,
    },
    /// A word list in a target whose source capture is no word list.
    WordsNeedWords {
        /// The target capture as written.
        capture: String,
        /// The capture's name.
        name: String,
    },
    /// A kind (`:*`, `:**`) in a target pattern.
    KindInTarget {
        /// The capture as written.
        capture: String,
    },
    /// A translated word list of another length than its source's.
    WordCount {
        /// The target capture as written.
        capture: String,
        /// The capture's name.
        name: String,
        /// The words of the source capture.
        from: Vec<String>,
        /// The number of words the target capture lists.
        to: usize,
    },
    /// A `for` range for a capture that is bound already (by another range
    /// or the `like` pattern).
    RangeBoundTwice {
        /// The capture's name.
        name: String,
    },
    /// `unstack(c)` where the sources already bind c.
    AlreadyBound {
        /// The op (`unstack`).
        op: &'static str,
        /// The capture's name.
        capture: String,
    },
}

impl fmt::Display for CaptureProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CaptureProblem::*;
        match self {
            ShiftInSource { capture } => {
                write!(f, "`{capture}`: a shifted capture can only appear in a target")
            }
            TwoKinds { name } => write!(
                f,
                "capture `{name}` appears twice in this pattern with different kinds"
            ),
            RangeBoundTwice { name } => write!(
                f,
                "capture `{name}` is bound twice: give it one `for` range, or bind it by `like`"
            ),
            NotNonNegative {
                capture,
                name,
                value,
            } => write!(
                f,
                "`{capture}` is not a non-negative integer when {name} = {value}"
            ),
            WordsNeedWords { capture, name } => write!(
                f,
                "`{capture}`: a list of words in a target needs its source capture `{{{name}:...}}` to be a list too"
            ),
            KindInTarget { capture } => write!(
                f,
                "`{capture}`: a capture kind (`:*`, `:**`, `:a|b`) belongs in a source pattern"
            ),
            WordCount {
                capture,
                name,
                from,
                to,
            } => write!(
                f,
                "`{capture}` writes the word at the position of the one its source capture matched, \
                 so it needs as many words as `{{{name}:{}}}` ({to} and {})",
                from.join("|"),
                from.len()
            ),
            AlreadyBound { op, capture } => write!(
                f,
                "{op}({capture}): capture `{capture}` is already bound by the sources"
            ),
        }
    }
}

/// What is wrong with a `regex` rule.
#[derive(Debug, Clone, PartialEq)]
pub enum RegexProblem {
    /// The regex engine's own report (its last line).
    Engine(String),
    /// A regex rule whose target is a pattern, not a template.
    PatternTarget,
    /// `$1` for a group that has a name.
    NamedGroup {
        /// The group's number, as the template refers to it.
        group: String,
        /// The group's name.
        name: String,
    },
    /// A template reference to a group the regex does not have.
    NoSuchGroup {
        /// The group, as the template refers to it (a number or a name).
        group: String,
    },
}

impl fmt::Display for RegexProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegexProblem::Engine(text) => f.write_str(text),
            RegexProblem::PatternTarget => {
                f.write_str("a regex rule's target is a template string with `$1` or `${name}`")
            }
            RegexProblem::NamedGroup { group, name } => {
                write!(f, "group {group} is named: write `${{{name}}}`")
            }
            RegexProblem::NoSuchGroup { group } => write!(
                f,
                "the template refers to group `{group}`, which the regex does not have"
            ),
        }
    }
}

/// What is wrong with an op call's arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgProblem {
    /// A parameter of a user `op` given no value.
    Missing {
        /// The parameter's name.
        param: String,
    },
    /// `transpose` with one axis.
    BothAxesOrNone,
    /// `reshape` with a negative size other than one `-1`.
    BadDimensions,
    /// A parameter the op cannot do without, with how a call looks.
    Needs {
        /// What the op needs, in words (`` `axis` ``).
        what: &'static str,
        /// A call that gives it; empty when there is none to show.
        example: &'static str,
    },
    /// `split(sizes=..)` given something other than a list.
    SizesNotList,
    /// `split(sizes=[..])` with a negative size.
    NegativeSize,
    /// A count (`times`, `before`, `after`) below zero.
    NegativeCount {
        /// The parameter.
        param: &'static str,
    },
    /// `index_select(index=..)` given something other than a list of integers.
    IndexNotList,
    /// `zeros(shape=..)` given something other than a list.
    ShapeNotList,
    /// `pad(fill=..)` given something other than a number or `mean`.
    BadFill,
    /// `pad(fill=mean)` of an axis with no entries to average.
    MeanOfNothing,
    /// `split` with both or neither of `parts` and `sizes`.
    PartsOrSizes,
    /// A float or a list where an integer goes.
    NotInteger {
        /// What was given instead.
        found: Found,
    },
    /// An argument name the op has no parameter for.
    NoSuchParameter {
        /// The argument's name.
        name: String,
        /// The op's parameters.
        takes: Vec<String>,
    },
    /// More positional arguments than parameters.
    TooMany {
        /// The op's parameters.
        takes: Vec<String>,
    },
    /// One parameter given twice.
    GivenTwice {
        /// The parameter's name.
        param: String,
    },
    /// `permute`/`reshape` given a named argument.
    PositionalOnly,
    /// `permute`/`reshape` given nothing.
    NoDimensions,
    /// `stack`/`unstack` whose first argument is not a capture name.
    CaptureFirst,
    /// `block` that is not two positive integers, and none in the config.
    BlockSize,
    /// A block-scaled op's values or scales of a dtype it does not take.
    QuantDtype {
        /// Which input: "values" or "scales".
        input: &'static str,
        /// Its dtype.
        found: DType,
        /// The dtypes it takes.
        takes: &'static str,
    },
    /// A scale grid that is not one scale per block of the values.
    ScaleGrid(Box<GridMismatch>),
    /// A user `op` called with the wrong number of arguments.
    Count {
        /// The op's parameters.
        takes: Vec<String>,
        /// The number of arguments given.
        given: usize,
    },
}

/// A block-scaled op's scales that are not one per block.
#[derive(Debug, Clone, PartialEq)]
pub struct GridMismatch {
    /// The values' shape.
    pub values: ShapeText,
    /// The block.
    pub block: [u64; 2],
    /// The grid that shape needs: ceil(rows / block) x ceil(cols / block).
    pub expected: ShapeText,
    /// The scales' shape.
    pub found: ShapeText,
}

/// What was found where an integer goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// A decimal number: this one.
    Float(f64),
    /// A list.
    List,
}

impl ArgProblem {
    fn text(&self, op: &str) -> String {
        use ArgProblem::*;
        let takes_list = |takes: &[String]| {
            if takes.is_empty() {
                "none".to_string()
            } else {
                takes.join(", ")
            }
        };
        match self {
            Missing { param } => format!("missing argument `{param}`"),
            BothAxesOrNone => "give both axes, or none for a 2-D tensor".into(),
            BadDimensions => "dimensions are non-negative, with at most one -1".into(),
            Needs { what, example: "" } => format!("needs {what}"),
            Needs { what, example } => format!("needs {what}, as in `{example}`"),
            SizesNotList => "`sizes` is a list, as in `sizes=[64, 16, 16]`".into(),
            NegativeSize => "sizes are non-negative".into(),
            NegativeCount { param } => format!("`{param}` is non-negative"),
            IndexNotList => "`index` is a list of integers, as in `index=[2, 0, 1]`".into(),
            ShapeNotList => "`shape` is a list, as in `shape=[64, 16]`".into(),
            BadFill => "`fill` is a number or `mean`, as in `fill=0.0` or `fill=mean`".into(),
            MeanOfNothing => "`fill=mean` needs at least one existing entry on the axis".into(),
            PartsOrSizes => "give exactly one of `parts` and `sizes`".into(),
            NotInteger {
                found: Found::Float(f),
            } => format!("expected an integer, found {f}"),
            NotInteger { found: Found::List } => "expected an integer, found a list".into(),
            NoSuchParameter { name, takes } if takes.is_empty() => {
                format!("no argument named `{name}`")
            }
            NoSuchParameter { name, takes } => {
                format!("no argument named `{name}` (it takes {})", takes.join(", "))
            }
            TooMany { takes } => format!("too many arguments: it takes {}", takes_list(takes)),
            GivenTwice { param } => format!("`{param}` is given twice"),
            PositionalOnly => "takes positional dimensions only".into(),
            NoDimensions => "needs at least one dimension".into(),
            CaptureFirst => {
                format!("the first argument is a capture name, as in `{op}(e, axis=0)`")
            }
            BlockSize => "`block` is two positive integers, as in `block=[128, 128]`; without it, the config's `quantization_config.weight_block_size` is used, and it has none".into(),
            QuantDtype { input, found, takes } => {
                format!("its {input} are {found}; it takes {takes}")
            }
            ScaleGrid(g) => format!(
                "values {} in blocks of {}x{} need scales {}, found {}",
                g.values, g.block[0], g.block[1], g.expected, g.found
            ),
            Count { takes, given } => format!(
                "it takes {} argument{} ({}), {given} given",
                takes.len(),
                plural(takes.len()),
                takes.join(", ")
            ),
        }
    }
}

/// Why axes do not make a permutation.
#[derive(Debug, Clone, PartialEq)]
pub enum PermutationProblem {
    /// `transpose` without axes on a tensor that is not 2-D.
    TransposeNot2d {
        /// The tensor's number of axes.
        rank: usize,
    },
    /// `permute(..)` whose axes are not each axis once.
    NotAPermutation {
        /// The axes as written.
        axes: Vec<i64>,
        /// The tensor's number of axes.
        rank: usize,
    },
}

impl fmt::Display for PermutationProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PermutationProblem::TransposeNot2d { rank } => write!(
                f,
                "`transpose` without axes swaps the axes of a 2-D tensor; this one is {rank}-D"
            ),
            PermutationProblem::NotAPermutation { axes, rank } => {
                let axes: Vec<String> = axes.iter().map(|a| a.to_string()).collect();
                write!(
                    f,
                    "permute({}) is not a permutation of the {rank} axes",
                    axes.join(", ")
                )
            }
        }
    }
}

/// How a `split` does not fit its axis.
#[derive(Debug, Clone, PartialEq)]
pub enum SplitProblem {
    /// `parts=N` where N does not divide the axis (or is not positive).
    Parts {
        /// The number of parts asked for.
        parts: i64,
    },
    /// `sizes=[..]` that do not add up to the axis (`total` is `None` past u64).
    Sizes {
        /// The sizes asked for.
        sizes: Vec<u64>,
        /// Their sum; `None` when it does not fit in u64.
        total: Option<u64>,
    },
}

impl SplitProblem {
    /// How it fails to cut an axis of `dim`.
    fn text(&self, dim: u64) -> String {
        match self {
            SplitProblem::Parts { parts } => {
                format!("into {parts} equal parts: {dim} is not a multiple of {parts}")
            }
            SplitProblem::Sizes { sizes, total } => format!(
                "into sizes {}: they add up to {}, not {dim}",
                ShapeText(sizes.clone()),
                total
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "too much".into())
            ),
        }
    }
}

/// Why `wmap invert` cannot undo a statement exactly.
#[derive(Debug, Clone, PartialEq)]
pub enum Irreversible {
    /// A `drop` that took tensors.
    Drop {
        /// How many source tensors it took.
        taken: usize,
    },
    /// A global cast that rounds a tensor.
    NarrowingGlobalCast {
        /// A tensor it rounds.
        tensor: String,
        /// That tensor's dtype.
        from: DType,
        /// The dtype the cast converts it to.
        to: DType,
    },
    /// A global cast that changed some, not all, of one rule's inputs.
    PartialGlobalCast,
    /// A target capture written with two shifts.
    TwoShifts {
        /// The capture's name.
        capture: String,
    },
    /// An op call no instance reached.
    NeverRan,
    /// `reshape` applied to different shapes.
    ReshapeShapesDiffer,
    /// `concat` of different sizes in different matches.
    ConcatSizesDiffer,
    /// `concat` whose axis is not known.
    ConcatAxisUnknown,
    /// `slice`.
    Slice,
    /// `cast` of tensors of several dtypes.
    CastMixedDtypes,
    /// A cast that rounds.
    CastRounds {
        /// The dtype cast from.
        from: DType,
        /// The dtype cast to.
        to: DType,
    },
    /// `add`/`mul` by a number whose inverse rounds.
    ArithRounds {
        /// The op: `add` or `mul`.
        op: &'static str,
        /// The number it applies.
        x: f64,
    },
    /// An elementwise function with no exact inverse (`abs`, `sqrt`, `exp`, `log`).
    Elementwise {
        /// The op.
        op: &'static str,
    },
    /// `index_select` that leaves out some entries of its axis.
    EntriesLeftOut {
        /// How many entries of the axis no index picks.
        missing: u64,
    },
    /// An op applied to values of different shapes, whose inverse needs one.
    ShapesDiffer,
    /// An arm of branches that leaves other than one value.
    ArmOfSeveral {
        /// The values it leaves.
        values: usize,
    },
    /// The reverse would call an op with `shape("NAME")[k]` in its
    /// arguments, and NAME is a tensor of the forward's source only.
    NamesASourceTensor,
    /// A block quantization or dequantization: the other direction
    /// recomputes scales from the values and need not give the bytes back.
    Quantizes {
        /// The op.
        op: &'static str,
    },
}

impl fmt::Display for Irreversible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Irreversible::*;
        match self {
            Drop { taken } => write!(
                f,
                "this drop discards {taken} source tensor{}, which the reverse cannot recreate",
                plural(*taken)
            ),
            NarrowingGlobalCast { tensor, from, to } => {
                write!(f, "`{tensor}` is {from}, and the cast to {to} rounds it")
            }
            PartialGlobalCast => {
                f.write_str("the global cast changed only some of this rule's inputs")
            }
            TwoShifts { capture } => {
                write!(
                    f,
                    "capture `{capture}` is written with two different shifts"
                )
            }
            NeverRan => f.write_str("this op never ran, so what it was applied to is unknown"),
            ReshapeShapesDiffer => f.write_str(
                "the shapes reshaped here differ between tensors, and the inverse needs one",
            ),
            ConcatSizesDiffer => {
                f.write_str("the tensors joined here have different sizes in different matches")
            }
            ConcatAxisUnknown => f.write_str("the axis of this concat is not known"),
            Slice => f.write_str("slice keeps part of a tensor; the rest cannot be recreated"),
            CastMixedDtypes => f.write_str("this cast applies to tensors of different dtypes"),
            CastRounds { from, to } => write!(f, "the cast from {from} to {to} rounds"),
            Elementwise { op: "abs" } => f.write_str("`abs` discards the sign"),
            Elementwise { op } => write!(
                f,
                "floating-point `{op}` rounds, and no op undoes it exactly"
            ),
            EntriesLeftOut { missing } => write!(
                f,
                "{missing} entr{} of the axis picked from {} left out, and the reverse cannot recreate {}",
                if *missing == 1 { "y" } else { "ies" },
                if *missing == 1 { "is" } else { "are" },
                if *missing == 1 { "it" } else { "them" }
            ),
            ShapesDiffer => f.write_str(
                "this op applies to different shapes in different matches, and the inverse needs one",
            ),
            ArithRounds { op, x } => write!(
                f,
                "floating-point `{op}({x})` rounds, so undoing it is not exact"
            ),
            ArmOfSeveral { values } => write!(
                f,
                "this arm leaves {values} values from one, and an arm of the reverse takes one"
            ),
            Quantizes { op } => write!(
                f,
                "`{op}` changes how values are stored in blocks, and the other direction recomputes the scales: the bytes need not come back"
            ),
            NamesASourceTensor => write!(
                f,
                "the reverse would read `shape(\"...\")` of a tensor that only the forward's source holds"
            ),
        }
    }
}

impl Irreversible {
    fn help(&self) -> Option<String> {
        use Irreversible::*;
        let text = match self {
            Drop { .. } => "a reverse exists only for mappings that keep every tensor: map these with a rule instead",
            NarrowingGlobalCast { .. } | CastRounds { .. } => "only widening casts have an exact inverse",
            PartialGlobalCast => "cast this rule's inputs explicitly with `cast(...)` in its pipeline",
            TwoShifts { .. } => "the reverse must read each capture from one place",
            NeverRan => "check the mapping against a checkpoint where this rule matches",
            ReshapeShapesDiffer => "split the rule so that each reshapes one shape",
            ConcatSizesDiffer => "split the rule so that each joins one set of sizes",
            ConcatAxisUnknown => "write the axis as a number",
            Slice => "a reverse exists only for mappings that keep every element",
            CastMixedDtypes => "cast each dtype in a rule of its own",
            ArithRounds { .. } => "only `mul` by a power of two (or -1) has an exact inverse",
            Elementwise { .. } => "only `neg` has an exact inverse among the elementwise ops",
            EntriesLeftOut { .. } => "a reverse exists only when every entry is picked at least once",
            ShapesDiffer => "split the rule so that each applies to one shape",
            ArmOfSeveral { .. } => "make each arm leave one value: split before the branches",
            Quantizes { .. } => "keep the original checkpoint: a reverse cannot recreate its exact quantized bytes",
            NamesASourceTensor => "give the size a `let` (`let d = shape(\"NAME\")[0]`): the reverse keeps its value",
        };
        Some(text.into())
    }
}

/// A label on a span; the primary one says where the problem is.
struct Label {
    span: Span,
    text: String,
    primary: bool,
}

fn list(items: &[String]) -> String {
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        _ => format!(
            "{} or {}",
            items[..items.len() - 1].join(", "),
            items[items.len() - 1]
        ),
    }
}

fn did_you_mean(s: &Option<String>) -> Option<String> {
    s.as_ref().map(|s| format!("did you mean `{s}`?"))
}

impl Diagnostic {
    /// A stable name for this kind of problem, shown as `wmap::KIND`.
    pub fn code(&self) -> &'static str {
        use Diagnostic::*;
        match self {
            Syntax { .. } => "syntax",
            NotUtf8 { .. } => "not_utf8",
            IntegerOverflow { .. } => "integer_overflow",
            UnsupportedVersion { .. } => "unsupported_version",
            MisplacedVersion { .. } => "misplaced_version",
            UseNotFound { .. } => "use_not_found",
            ImportCycle { .. } => "import_cycle",
            UnknownTargetModel { .. } => "unknown_target_model",
            PatternTooLarge { .. } => "pattern_too_large",
            InvalidTargetName { .. } => "invalid_target_name",
            HeaderTooLarge { .. } => "header_too_large",
            DuplicateSource { .. } => "duplicate_source",
            LimitExceeded { .. } => "limit_exceeded",
            NoPlan => "no_plan",
            ConflictingTargetModel { .. } => "conflicting_target_model",
            DuplicateDefinition { .. } => "duplicate_definition",
            UnknownName { .. } => "unknown_name",
            UnknownTensor { .. } => "unknown_tensor",
            UnknownConfigKey { .. } => "unknown_config_key",
            ConfigNotInteger { .. } => "config_not_integer",
            InexactDivision { .. } => "inexact_division",
            DivisionByZero { .. } => "division_by_zero",
            UnknownOp { .. } => "unknown_op",
            MisplacedFill { .. } => "misplaced_fill",
            BadBranches { .. } => "bad_branches",
            InvalidFileName { .. } => "invalid_file_name",
            TargetMismatch { .. } => "target_mismatch",
            UnreadableTarget { .. } => "unreadable_target",
            RecursiveOp { .. } => "recursive_op",
            BadArguments { .. } => "bad_arguments",
            UnknownDtype { .. } => "unknown_dtype",
            ConflictingCast { .. } => "conflicting_cast",
            UnboundCapture { .. } => "unbound_capture",
            BadCapture { .. } => "bad_capture",
            MismatchedCaptures { .. } => "mismatched_captures",
            InvalidRegex { .. } => "invalid_regex",
            NotInvertible { .. } => "not_invertible",
            UnmappedTensors { .. } => "unmapped_tensor",
            AmbiguousMatch { .. } => "ambiguous_match",
            DuplicateTarget { .. } => "duplicate_target",
            UnmatchedRule { .. } => "unmatched_rule",
            IncompleteSourceGroup { .. } => "incomplete_source_group",
            ArityMismatch { .. } => "arity_mismatch",
            ArityForOp { .. } => "op_arity",
            ElementCountMismatch { .. } => "element_count_mismatch",
            IndivisibleSplit { .. } => "indivisible_split",
            AxisOutOfRange { .. } => "axis_out_of_range",
            BadPermutation { .. } => "bad_permutation",
            SliceOutOfRange { .. } => "slice_out_of_range",
            IndexOutOfRange { .. } => "index_out_of_range",
            IncompatibleConcat { .. } => "incompatible_concat",
            NonContiguousStack { .. } => "non_contiguous_stack",
            NarrowingCast { .. } => "narrowing_cast",
            NotFloat { .. } => "not_float",
            UnsupportedDtype { .. } => "unsupported_dtype",
            NumberOutOfRange { .. } => "number_out_of_range",
            AmbiguousShape { .. } => "ambiguous_shape",
            TieOriginalMissing { .. } => "tie_original_missing",
        }
    }

    /// The headline: what is wrong.
    pub fn message(&self) -> String {
        use Diagnostic::*;
        match self {
            Syntax {
                expected, found, ..
            } => {
                if expected.is_empty() {
                    format!("syntax error: unexpected {found}")
                } else {
                    format!("syntax error: expected {}, found {found}", list(expected))
                }
            }
            NotUtf8 { .. } => "the file is not UTF-8 text".into(),
            IntegerOverflow { what, .. } => format!("{what} does not fit in a 64-bit integer"),
            UnsupportedVersion { found, .. } => {
                format!("this mapping is written for wmap language version {found}; this wmap reads version 1")
            }
            MisplacedVersion { .. } => "`wmap` version header after other statements".into(),
            UseNotFound { path, reason, .. } => format!("cannot use `{path}`: {reason}"),
            ImportCycle { chain, .. } => format!("import cycle: {}", chain.join(" -> ")),
            UnknownTargetModel { found, .. } => format!("unknown target model `{found}`"),
            ConflictingTargetModel { found, other, .. } => {
                format!("target model declared as `{found}` here but `{other}` elsewhere")
            }
            DuplicateDefinition { what, name, .. } => format!("{what} `{name}` is defined twice"),
            UnknownName { name, .. } => format!("unknown name `{name}`"),
            UnknownTensor { name, .. } => format!("the source has no tensor `{name}`"),
            UnknownConfigKey {
                path, also, config, ..
            } if !also.is_empty() => {
                let all: Vec<String> = std::iter::once(path)
                    .chain(also)
                    .map(|p| format!("`{p}`"))
                    .collect();
                match config {
                    Some(file) => {
                        format!("none of the config keys {} is in {file}", all.join(", "))
                    }
                    None => format!(
                        "one of the config keys {} is needed, but there is no config file",
                        all.join(", ")
                    ),
                }
            }
            UnknownConfigKey { path, config, .. } => match config {
                Some(file) => format!("config key `{path}` is not in {file}"),
                None => format!("config key `{path}` is needed, but there is no config file"),
            },
            ConfigNotInteger { path, found, .. } => {
                format!("config key `{path}` should be an integer, found {found}")
            }
            InexactDivision { lhs, rhs, .. } => {
                format!("{lhs} / {rhs} is not exact: {rhs} does not divide {lhs}")
            }
            DivisionByZero { .. } => "division by zero".into(),
            UnknownOp { name, .. } => format!("unknown op `{name}`"),
            InvalidFileName { name, .. } => format!("`write` cannot make a file named `{name}`"),
            TargetMismatch { model, fit, .. } if fit.problem.is_some() => format!(
                "the tensors `target {model}` expects cannot be computed: {}",
                fit.problem.as_deref().unwrap_or_default()
            ),
            UnreadableTarget { path, why, .. } => {
                format!("cannot read the target layout `{path}`: {why}")
            }
            TargetMismatch {
                model,
                fit,
                span,
                file,
            } => {
                let TargetFit {
                    missing,
                    unexpected,
                    misshapen,
                    ..
                } = fit.as_ref();
                let mut parts = Vec::new();
                if !missing.is_empty() {
                    parts.push(format!("{} missing", missing.len()));
                }
                if !unexpected.is_empty() {
                    parts.push(format!("{} unexpected", unexpected.len()));
                }
                if !misshapen.is_empty() {
                    parts.push(format!("{} of another shape", misshapen.len()));
                }
                if !fit.mistyped.is_empty() {
                    parts.push(format!("{} of another dtype", fit.mistyped.len()));
                }
                let what = match (span, file) {
                    (Some(_), false) => format!("what the `{model}` model expects"),
                    (Some(_), true) => format!("the layout of {model}"),
                    (None, _) => format!("the layout of {model} (--target)"),
                };
                format!("the output is not {what}: {}", parts.join(", "))
            }
            MisplacedFill {
                op,
                in_pipeline: true,
                ..
            } => format!("`{op}` makes a tensor, so it cannot take one from a pipeline"),
            MisplacedFill { op, .. } => {
                format!("a `make` rule starts with `zeros`, `ones` or `full`, not `{op}`")
            }
            BadBranches {
                problem: BranchProblem::Count { arms, values },
                ..
            } => format!(
                "{arms} arm{} for {values} value{}: branches take one value per arm",
                plural(*arms),
                plural(*values)
            ),
            BadBranches {
                problem: BranchProblem::AcrossBindings { op },
                ..
            } => format!("`{op}` works across bindings, so it cannot run in one arm"),
            RecursiveOp { chain, .. } => format!("op calls itself: {}", chain.join(" -> ")),
            BadArguments { op, problem, .. } => {
                format!("bad arguments to `{op}`: {}", problem.text(op))
            }
            UnknownDtype { name, .. } => format!("unknown dtype `{name}`"),
            ConflictingCast { dtype, .. } => {
                format!("two global casts apply to {dtype} tensors")
            }
            UnboundCapture { name, .. } => {
                format!("capture `{{{name}}}` is not bound by this rule's sources")
            }
            BadCapture { problem, .. } => problem.to_string(),
            MismatchedCaptures { first, other, .. } => format!(
                "the sources of this rule bind different captures: {} and {}",
                show_captures(first),
                show_captures(other)
            ),
            InvalidRegex { problem, .. } => format!("invalid regex rule: {problem}"),
            NotInvertible { why, .. } => format!("no exact inverse: {why}"),
            UnmappedTensors { pattern, count, .. } => {
                if *count == 1 {
                    format!("source tensor `{pattern}` is not mapped by any rule")
                } else {
                    format!("{count} source tensors `{pattern}` are not mapped by any rule")
                }
            }
            AmbiguousMatch { tensor, .. } => {
                format!("source tensor `{}` is matched by two rules", crate::text::printable(tensor))
            }
            DuplicateTarget { target, .. } => {
                format!("target `{}` is produced twice", crate::text::printable(target))
            }
            UnmatchedRule { what, pattern, .. } => {
                format!("{what} `{pattern}` matches no source tensor")
            }
            IncompleteSourceGroup {
                binding, missing, ..
            } => format!("incomplete source group for {binding}: `{missing}` does not exist"),
            ArityMismatch {
                produced, targets, ..
            } => format!(
                "this rule produces {produced} value{} but names {targets} target{}",
                plural(*produced),
                plural(*targets)
            ),
            ArityForOp {
                op, needs, found, ..
            } => format!("`{op}` takes {needs}, but the pipeline carries {found} here"),
            ElementCountMismatch { from, to, .. } => format!(
                "cannot reshape {from} ({} elements) to {to} ({} elements)",
                numel(&from.0),
                numel(&to.0)
            ),
            IndivisibleSplit {
                shape, axis, how, ..
            } => format!(
                "cannot split axis {axis} of {shape} {}",
                how.text(shape.0.get(*axis).copied().unwrap_or(0))
            ),
            AxisOutOfRange { axis, shape, .. } => format!(
                "axis {axis} is out of range for a {}-D tensor {shape}",
                shape.0.len()
            ),
            BadPermutation { problem, .. } => problem.to_string(),
            SliceOutOfRange {
                shape,
                axis,
                start,
                end,
                ..
            } => format!("slice {start}..{end} is outside axis {axis} of {shape}"),
            IndexOutOfRange {
                shape, axis, index, ..
            } => format!("index {index} is outside axis {axis} of {shape}"),
            IncompatibleConcat { op, axis, .. } => {
                format!("cannot {op} along axis {axis}: the other axes differ")
            }
            NonContiguousStack { capture, group, .. } => format!(
                "stack({capture}) needs {{{capture}}} to take exactly the values 0..n-1{}",
                if group.is_empty() {
                    String::new()
                } else {
                    format!(" (for {group})")
                }
            ),
            NarrowingCast { from, to, op, .. } => format!(
                "{op} of {from} and {to} tensors would convert {from} to {to}, which loses information"
            ),
            UnsupportedDtype {
                op, dtype, problem, ..
            } => match problem {
                DtypeProblem::Packed => format!(
                    "`{op}` moves elements, and {dtype} packs {} per byte",
                    if dtype.bits() == 4 { "two" } else { "four in three bytes," }
                ),
                DtypeProblem::NotComputed => {
                    format!("`{op}` computes values, and wmap does not compute in {dtype}")
                }
                DtypeProblem::NotWritten => format!("wmap does not write values as {dtype}"),
                DtypeProblem::Complex => format!("`{op}` of {dtype}: complex values have no real value"),
            },
            NotFloat {
                op, tensor, dtype, ..
            } => format!("`{op}` needs a floating-point tensor, but `{tensor}` is {dtype}"),
            NumberOutOfRange {
                text,
                dtype,
                becomes,
                op: None,
                ..
            } => format!("the number {text} is {becomes} as {dtype}"),
            NumberOutOfRange {
                text,
                dtype,
                becomes,
                op: Some(op),
                ..
            } => format!("`{op}` uses {text} as {dtype} here, where it becomes {becomes}"),
            AmbiguousShape { problem, .. } => {
                let detail = match problem {
                    ShapeProblem::OutsidePipeline => {
                        "`shape[k]` is only defined in the arguments of an op in a pipeline (`shape(\"NAME\")[k]` reads a named source tensor anywhere)".into()
                    }
                    ShapeProblem::InputsDiffer { first, other, axis } => {
                        format!("the inputs have {first} and {other} on axis {axis}")
                    }
                };
                format!("`shape` is ambiguous here: {detail}")
            }
            TieOriginalMissing { name, .. } => {
                format!("tie refers to `{name}`, which no rule produces")
            }
            PatternTooLarge { limit, .. } => format!(
                "this pattern is too large to match with (its matcher would pass the regex engine's {} MB)",
                limit / 1_000_000
            ),
            InvalidTargetName { name, problem, .. } => match problem {
                NameProblem::Reserved => format!(
                    "`{}` cannot name a tensor: safetensors keeps it for the file's metadata",
                    crate::text::printable(name)
                ),
                NameProblem::Empty => "a target name is empty".into(),
            },
            HeaderTooLarge { bytes, limit, .. } => format!(
                "the output's header would take {bytes} bytes, more than the {limit} that safetensors readers accept"
            ),
            DuplicateSource { tensor, .. } => format!(
                "`{}` is listed twice in this rule's sources",
                crate::text::printable(tensor)
            ),
            LimitExceeded {
                what, found, limit, ..
            } => format!(
                "this makes {found} {}, more than the {limit} wmap allows",
                what.text()
            ),
            NoPlan => "wmap built no plan and found no problem to report; this is a bug in wmap".into(),
        }
    }

    /// One line of advice, where there is something useful to say.
    pub fn help(&self) -> Option<String> {
        use Diagnostic::*;
        match self {
            Syntax { .. } => Some(
                "a statement continues on the next line only when that line starts with `|` or `->`, or inside `(` or `[`"
                    .into(),
            ),
            NotUtf8 { .. } => Some("save the mapping as UTF-8".into()),
            IntegerOverflow { .. } => Some("integers are signed 64-bit".into()),
            UnsupportedVersion { .. } => Some("write `wmap 1`, or upgrade wmap".into()),
            MisplacedVersion { .. } => {
                Some("put `wmap 1` on the first line of the file".into())
            }
            UseNotFound { suggestion, .. } => did_you_mean(suggestion).or_else(|| {
                Some("stdlib modules are written `std/NAME`; files are relative to the using file, as `./NAME.wmap`".into())
            }),
            ImportCycle { .. } => Some("move what both files need into a third file".into()),
            UnknownTargetModel { known, .. } => {
                Some(format!("known target models: {}", known.join(", ")))
            }
            ConflictingTargetModel { .. } => Some("keep one `target` declaration".into()),
            DuplicateDefinition { .. } => Some("rename one of them".into()),
            UnknownTensor { suggestion, .. } => did_you_mean(suggestion).or_else(|| {
                Some("`shape(\"NAME\")[k]` reads a source tensor by its full name; `wmap inspect SRC` lists them".into())
            }),
            UnknownName { suggestion, .. } => did_you_mean(suggestion).or_else(|| {
                Some("names come from `let`, from the parameters of an `op`, and `shape[k]`".into())
            }),
            UnknownConfigKey { also, .. } if !also.is_empty() => Some(
                "set one of them with `--set key=VALUE`, or end the `??` chain with an integer default".into(),
            ),
            UnknownConfigKey {
                suggestion, config, ..
            } => did_you_mean(suggestion).or_else(|| match config {
                Some(_) => Some("give a default with `??`, as in `config.key ?? 8`, or set it with `--set key=VALUE`".into()),
                None => Some("put config.json beside the weights, pass `--config FILE`, or `--set key=VALUE`".into()),
            }),
            ConfigNotInteger { .. } => None,
            InexactDivision { .. } => Some(
                "`/` divides exactly; check the config keys the operands come from".into(),
            ),
            DivisionByZero { .. } => None,
            UnknownOp { suggestion, .. } => did_you_mean(suggestion).or_else(|| {
                let names: Vec<&str> = crate::ops::Builtin::ALL.iter().map(|op| op.name()).collect();
                Some(format!("built-in ops: {}", names.join(", ")))
            }),
            InvalidFileName { why, .. } => Some(format!("it must be {why}")),
            TargetMismatch { fit, .. } if fit.problem.is_none() => {
                let TargetFit {
                    missing,
                    unexpected,
                    misshapen,
                    ..
                } = fit.as_ref();
                let mut lines = Vec::new();
                for (name, shape) in missing.iter().take(5) {
                    lines.push(format!("missing: {name} {shape}"));
                }
                for name in unexpected.iter().take(5) {
                    lines.push(format!("unexpected: {name}"));
                }
                for (name, want, got) in misshapen.iter().take(5) {
                    lines.push(format!("{name}: expected {want}, written {got}"));
                }
                for (name, want, got) in fit.mistyped.iter().take(5) {
                    lines.push(format!("{name}: expected {want}, written {got}"));
                }
                let shown = missing.len().min(5)
                    + unexpected.len().min(5)
                    + misshapen.len().min(5)
                    + fit.mistyped.len().min(5);
                let all = missing.len() + unexpected.len() + misshapen.len() + fit.mistyped.len();
                if all > shown {
                    lines.push(format!("and {} more", all - shown));
                }
                Some(lines.join("\n"))
            }
            TargetMismatch { .. } => None,
            UnreadableTarget { .. } => Some(
                "a target layout is a checkpoint (a .safetensors file, a folder or an index) or a spec from `wmap spec` (.json), relative to the mapping".into(),
            ),
            MisplacedFill {
                in_pipeline: true,
                ..
            } => Some("start a rule with it: `make zeros(shape=[64], dtype=f32) -> \"name\"`".into()),
            MisplacedFill { .. } => {
                Some("apply other ops after the fill: `make zeros(..) | OP -> \"name\"`".into())
            }
            BadBranches {
                problem: BranchProblem::Count { .. },
                ..
            } => Some("write one arm per value, `_` for one that passes unchanged: `| [_, transpose, _]`".into()),
            BadBranches { .. } => Some("apply it before the branches or after them".into()),
            RecursiveOp { .. } => Some("an op may call other ops, but not itself".into()),
            BadArguments { .. } => None,
            UnknownDtype { suggestion, .. } => did_you_mean(suggestion).or_else(|| {
                Some("dtypes: bool u8 i8 i16 i32 i64 f16 bf16 f32 f64 f8_e4m3 f8_e5m2; `float` for all floats in a global cast".into())
            }),
            ConflictingCast { .. } => Some("make the global casts name disjoint dtypes".into()),
            UnboundCapture { bound, .. } => Some(if bound.is_empty() {
                "this rule's sources bind no captures".into()
            } else {
                format!(
                    "the sources bind {}",
                    bound
                        .iter()
                        .map(|b| format!("{{{b}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
            BadCapture { .. } => None,
            MismatchedCaptures { .. } => Some(
                "every pattern of a source list must bind the same captures, so each binding names one tensor per pattern"
                    .into(),
            ),
            InvalidRegex { .. } => None,
            NotInvertible { why, .. } => why.help(),
            UnmappedTensors { example, count, .. } => Some(if *count == 1 {
                "map it with a rule, `drop` it, or add a `fallback`".into()
            } else {
                format!("for example `{}`; map these with a rule, `drop` them, or add a `fallback`", crate::text::printable(example))
            }),
            AmbiguousMatch { .. } => Some(
                "make the patterns disjoint, or use `{x:a|b}` to list exactly what each rule takes".into(),
            ),
            DuplicateTarget { .. } => Some("every target name must be produced exactly once".into()),
            UnmatchedRule {
                suggestions, what, ..
            } => Some(if suggestions.is_empty() {
                format!("mark the {what} `optional` if it is only for some checkpoints")
            } else {
                format!(
                    "the nearest source names are {}; mark the {what} `optional` if it is only for some checkpoints",
                    suggestions
                        .iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            }),
            IncompleteSourceGroup { present, .. } => Some(format!(
                "these exist for the same binding: {}",
                present
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            ArityMismatch { .. } => Some(
                "`concat` takes N values to 1, `split` takes 1 to N; every other op keeps the count".into(),
            ),
            ArityForOp { .. } => None,
            ElementCountMismatch { .. } => Some("one axis may be `-1` to be inferred".into()),
            IndivisibleSplit { .. } => Some(
                "check the head counts and sizes, and which config keys they come from".into(),
            ),
            AxisOutOfRange { .. } => Some("axes count from 0; negative axes count from the end".into()),
            BadPermutation { .. } => None,
            SliceOutOfRange { .. } => None,
            IndexOutOfRange { shape, axis, .. } => Some(format!(
                "indices run from 0 to {} (or from -{} counting from the end)",
                shape.0[*axis].saturating_sub(1),
                shape.0[*axis]
            )),
            IncompatibleConcat { shapes, .. } => Some(format!(
                "shapes: {}",
                shapes
                    .iter()
                    .map(|(n, s)| format!("`{n}` {s}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            NonContiguousStack { found, .. } => {
                Some(format!("found values {}", found.join(", ")))
            }
            NarrowingCast { to, .. } => Some(format!(
                "add an explicit `cast({to})` where you want the conversion"
            )),
            NotFloat { .. } => Some("`cast` it to a float dtype first".into()),
            UnsupportedDtype { problem, .. } => Some(match problem {
                DtypeProblem::Packed => "`reshape` and `cast` work on packed values: cast to bf16 or f32 first (exact), then move them".into(),
                DtypeProblem::NotComputed => "cast to f32 first (exact), then compute".into(),
                DtypeProblem::NotWritten => "casts from it are exact (to f32, say); a tensor of it is written only as copied".into(),
                DtypeProblem::Complex => "copy or move complex tensors as they are".into(),
            }),
            NumberOutOfRange { dtype, .. } => Some(match dtype {
                DType::F64 => "f64 numbers lie within ±1.8e308, the smallest above 0 is 4.9e-324".into(),
                DType::F32 => "f32 numbers lie within ±3.4e38, the smallest above 0 is 1.4e-45; `cast(f64)` first to compute in f64".into(),
                DType::BF16 => "bf16 numbers lie within ±3.4e38, the smallest above 0 is 9.2e-41".into(),
                DType::F16 => "f16 numbers lie within ±65504, the smallest above 0 is 6.0e-8; `cast(f32)` first to compute in f32".into(),
                DType::F8E4M3 => "f8_e4m3 numbers lie within ±448, the smallest above 0 is 0.002".into(),
                DType::F8E5M2 => "f8_e5m2 numbers lie within ±57344, the smallest above 0 is 1.5e-5".into(),
                _ => format!("{dtype} cannot hold it"),
            }),
            AmbiguousShape { .. } => Some(
                "use `shape[k]` in a rule with one source, or in an `op` definition".into(),
            ),
            TieOriginalMissing { .. } => Some(
                "`tie COPY = ORIGINAL` copies a target that another rule produces".into(),
            ),
            PatternTooLarge { .. } => Some(
                "split it into several rules, or match with captures (`{name}`) instead of listing words".into(),
            ),
            InvalidTargetName { problem, .. } => Some(match problem {
                NameProblem::Reserved => "choose another name; wmap copies the source's metadata itself".into(),
                NameProblem::Empty => "a capture bound to nothing, or a template with no text".into(),
            }),
            HeaderTooLarge { .. } => Some(
                "shorter target names, or fewer tensors per file (`--max-shard-size`)".into(),
            ),
            DuplicateSource { .. } => Some(
                "name each source once; the pipeline receives the sources in the order listed".into(),
            ),
            LimitExceeded { .. } => Some(
                "the checkpoint's header asks for more work than any real model needs; check the header".into(),
            ),
            NoPlan => Some("please report it, with the mapping and the source's header".into()),
        }
    }

    /// Labels: the primary span, and the others involved.
    fn labels(&self) -> Vec<Label> {
        use Diagnostic::*;
        let primary = |span: Span, text: &str| Label {
            span,
            text: text.to_string(),
            primary: true,
        };
        let secondary = |span: Span, text: &str| Label {
            span,
            text: text.to_string(),
            primary: false,
        };
        match self {
            Syntax { span, expected, .. } => vec![primary(
                *span,
                &if expected.is_empty() {
                    "unexpected".to_string()
                } else {
                    format!("expected {}", list(expected))
                },
            )],
            NotUtf8 { span } => vec![primary(*span, "invalid byte")],
            IntegerOverflow { span, .. } => vec![primary(*span, "too large")],
            UnsupportedVersion { span, .. } => vec![primary(*span, "unsupported version")],
            MisplacedVersion { span } => vec![primary(*span, "must come first")],
            UseNotFound { span, .. } => vec![primary(*span, "not found")],
            ImportCycle { span, .. } => vec![primary(*span, "this use closes the cycle")],
            UnknownTargetModel { span, .. } => vec![primary(*span, "unknown model")],
            ConflictingTargetModel { span, previous, .. } => vec![
                primary(*span, "declared here"),
                secondary(*previous, "and here"),
            ],
            DuplicateDefinition { span, previous, .. } => vec![
                primary(*span, "defined again here"),
                secondary(*previous, "first defined here"),
            ],
            UnknownName { span, .. } => vec![primary(*span, "not defined")],
            UnknownTensor { span, .. } => vec![primary(*span, "not in the source")],
            UnknownConfigKey { span, also, .. } => vec![primary(
                *span,
                if also.is_empty() {
                    "missing key"
                } else {
                    "every key of the chain is missing"
                },
            )],
            ConfigNotInteger { span, found, .. } => {
                vec![primary(*span, &format!("this is {found}"))]
            }
            InexactDivision { span, .. } => vec![primary(*span, "not exact")],
            DivisionByZero { span } => vec![primary(*span, "divides by zero")],
            UnknownOp { span, .. } => vec![primary(*span, "no such op")],
            MisplacedFill { span, .. } => vec![primary(*span, "here")],
            InvalidFileName { span, .. } => vec![primary(*span, "this name")],
            TargetMismatch {
                span: Some(span),
                file: false,
                ..
            } => {
                vec![primary(*span, "the model checked against")]
            }
            TargetMismatch {
                span: Some(span), ..
            } => {
                vec![primary(*span, "the layout checked against")]
            }
            UnreadableTarget { span, .. } => vec![primary(*span, "this file")],
            TargetMismatch { span: None, .. } => vec![],
            BadBranches { span, .. } => vec![primary(*span, "here")],
            RecursiveOp { span, .. } => vec![primary(*span, "recursive call")],
            BadArguments { span, .. } => vec![primary(*span, "here")],
            UnknownDtype { span, .. } => vec![primary(*span, "no such dtype")],
            ConflictingCast { span, previous, .. } => vec![
                primary(*span, "this cast"),
                secondary(*previous, "overlaps this one"),
            ],
            UnboundCapture { span, .. } => vec![primary(*span, "not bound")],
            BadCapture { span, .. } => vec![primary(*span, "here")],
            MismatchedCaptures { span, .. } => vec![primary(*span, "in this list")],
            InvalidRegex { span, .. } => vec![primary(*span, "here")],
            NotInvertible { span, .. } => vec![primary(*span, "not invertible")],
            UnmappedTensors { .. } => vec![],
            AmbiguousMatch { first, second, .. } => vec![
                primary(*second, "matched here"),
                secondary(*first, "also matched here"),
            ],
            DuplicateTarget { first, second, .. } => vec![
                primary(*second, "produced here"),
                secondary(*first, "also produced here"),
            ],
            UnmatchedRule { span, .. } => vec![primary(*span, "matches nothing")],
            IncompleteSourceGroup { span, .. } => vec![primary(*span, "in this group")],
            ArityMismatch { span, produced, .. } => vec![primary(
                *span,
                &format!("{produced} value{} here", plural(*produced)),
            )],
            ArityForOp { span, .. } => vec![primary(*span, "here")],
            ElementCountMismatch { span, tensor, .. }
            | IndivisibleSplit { span, tensor, .. }
            | AxisOutOfRange { span, tensor, .. }
            | BadPermutation { span, tensor, .. }
            | SliceOutOfRange { span, tensor, .. }
            | IndexOutOfRange { span, tensor, .. } => {
                vec![primary(*span, &format!("applied to `{tensor}`"))]
            }
            IncompatibleConcat { span, .. } => vec![primary(*span, "here")],
            NonContiguousStack { span, .. } => vec![primary(*span, "here")],
            NarrowingCast { span, .. } => vec![primary(*span, "implicit conversion here")],
            NotFloat { span, .. } => vec![primary(*span, "here")],
            UnsupportedDtype { span, .. } => vec![primary(*span, "here")],
            NumberOutOfRange { span, .. } => vec![primary(*span, "out of range")],
            AmbiguousShape { span, .. } => vec![primary(*span, "here")],
            TieOriginalMissing { span, .. } => vec![primary(*span, "not produced")],
            PatternTooLarge { span, .. } => vec![primary(*span, "too large")],
            InvalidTargetName { span, .. } => vec![primary(*span, "makes this name")],
            HeaderTooLarge { span, .. } => vec![primary(*span, "the names start here")],
            DuplicateSource { first, second, .. } => vec![
                primary(*second, "listed again here"),
                Label {
                    span: *first,
                    text: "first here".into(),
                    primary: false,
                },
            ],
            LimitExceeded { span, .. } => vec![primary(*span, "here")],
            NoPlan => Vec::new(),
        }
    }

    /// Where the problem is, for sorting and for tools.
    pub fn primary_span(&self) -> Option<Span> {
        self.labels()
            .into_iter()
            .find(|l| l.primary)
            .map(|l| l.span)
    }
}

fn show_captures(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names
            .iter()
            .map(|n| format!("{{{n}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn numel(shape: &[u64]) -> String {
    shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .map(|n| n.to_string())
        .unwrap_or_else(|| "too many".into())
}

/// A diagnostic made ready for miette: one source file, labels in it, and
/// labels in other files as related reports.
#[derive(Debug)]
struct Report {
    code: String,
    message: String,
    help: Option<String>,
    source: Option<NamedSource<String>>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.code))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(
                self.related.iter().map(|r| r as &dyn miette::Diagnostic),
            ))
        }
    }
}

fn named_source(sources: &SourceMap, span: Span) -> NamedSource<String> {
    let file = sources.get(span.file);
    NamedSource::new(file.name.clone(), file.text.clone())
}

fn to_labeled(label: &Label) -> LabeledSpan {
    let range = (label.span.start, label.span.len());
    if label.primary {
        LabeledSpan::new_primary_with_span(Some(label.text.clone()), range)
    } else {
        LabeledSpan::new_with_span(Some(label.text.clone()), range)
    }
}

fn report(diagnostic: &Diagnostic, sources: &SourceMap) -> Report {
    let labels = diagnostic.labels();
    let home = labels.iter().find(|l| l.primary).map(|l| l.span.file);
    let (here, elsewhere): (Vec<&Label>, Vec<&Label>) =
        labels.iter().partition(|l| Some(l.span.file) == home);
    Report {
        code: format!("wmap::{}", diagnostic.code()),
        // Names come from strangers' headers: no control character of theirs
        // reaches the terminal.
        message: crate::text::printable_lines(&diagnostic.message()).into_owned(),
        help: diagnostic
            .help()
            .map(|h| crate::text::printable_lines(&h).into_owned()),
        source: here.first().map(|l| named_source(sources, l.span)),
        labels: here.iter().map(|l| to_labeled(l)).collect(),
        related: elsewhere
            .iter()
            .map(|l| Report {
                code: String::new(),
                message: format!("{} ({})", l.text, sources.get(l.span.file).name),
                help: None,
                source: Some(named_source(sources, l.span)),
                labels: vec![to_labeled(l)],
                related: Vec::new(),
            })
            .collect(),
    }
}

/// How to draw diagnostics.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Whether to draw with ANSI colors.
    pub color: bool,
    /// The width to wrap at, in columns.
    pub width: usize,
}

/// Renders diagnostics one after another, as the terminal or a golden file shows them.
pub fn render(diagnostics: &[Diagnostic], sources: &SourceMap, style: Style) -> String {
    let theme = if style.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(style.width)
        .with_links(false);
    let mut out = String::new();
    for d in diagnostics {
        let r = report(d, sources);
        if handler.render_report(&mut out, &r).is_err() {
            out.push_str(&format!("error: {}\n", d.message()));
        }
    }
    out
}
