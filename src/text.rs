//! Text from outside (tensor names, file names, config strings) made safe to
//! print: control characters would otherwise reach the terminal, where they
//! can move the cursor, rewrite what was printed or change its colours.

use std::borrow::Cow;

/// `text` with every control character written as an escape (`\n`, `\t`,
/// `\r`, `\u{1b}`); everything else, including non-ASCII letters, as is.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`printable`], keeping line breaks: for messages of several lines.
pub fn printable_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.split('\n')
            .map(|line| printable(line).into_owned())
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::{printable, printable_lines};

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(printable("model.layers.0.weight"), "model.layers.0.weight");
        assert_eq!(printable("a\nb\tc\rd"), "a\\nb\\tc\\rd");
        assert_eq!(printable("\u{1b}[2Jx"), "\\u{1b}[2Jx");
        assert_eq!(printable("\u{7f}"), "\\u{7f}");
        assert_eq!(printable("größe"), "größe");
        assert_eq!(printable_lines("a\n\u{1b}b"), "a\n\\u{1b}b");
    }
}
