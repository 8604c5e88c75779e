//! Errors that are not about a Dockerfile location: `error: <message>`
//! followed by one `  caused by: <cause>` line per source in the chain.

use std::error::Error;

use super::Style;

/// `error: message` and its causes, one per line, ending with a newline.
pub fn render(error: &dyn Error, style: Style) -> String {
    let mut out = if style.color {
        format!(
            "{} {error}\n",
            console::style("error:").red().bold().force_styling(true)
        )
    } else {
        format!("error: {error}\n")
    };
    let mut cause = error.source();
    while let Some(c) = cause {
        out.push_str(&format!("  caused by: {c}\n"));
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_is_decided_by_the_style_not_by_stdout() {
        let e = std::io::Error::other("boom");
        let coloured = render(
            &e,
            Style {
                fancy: true,
                color: true,
            },
        );
        assert!(coloured.contains('\u{1b}'), "{coloured:?}");
        assert!(coloured.ends_with(" boom\n"), "{coloured:?}");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read Dockerfile x")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn error_lists_its_causes() {
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "No such file",
        ));
        assert_eq!(
            render(&e, Style::PLAIN),
            "error: cannot read Dockerfile x\n  caused by: No such file\n"
        );
    }
}
