//! The `.wmap` language's syntax: the pest grammar in `grammar/wmap.pest`
//! and the AST it is converted into.

pub mod ast;
pub mod format;
mod parse;
pub mod print;

pub use ast::*;
pub use parse::parse;
