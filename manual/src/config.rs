//! sekisho.toml(5), made from docs/config.md so that the manual page and the reference in the
//! repository are one text.
//!
//! ```text
//!   docs/config.md --markdown::render--> .TH SEKISHO.TOML 5 ... / NAME / DESCRIPTION / sections
//! ```
//!
//! The document's `# Configuration reference` title becomes `DESCRIPTION` (the NAME line names
//! the page); every key table becomes one `.TP` entry per key.

use crate::man::title_header;
use crate::markdown;
use crate::roff::Roff;

/// The man page sekisho.toml(5) from the Markdown of docs/config.md.
pub(crate) fn config_page(markdown: &str, date: &str, version: &str) -> String {
    let mut out = Roff::new();
    title_header(&mut out, "SEKISHO.TOML", "5", date, version);
    out.section("NAME");
    out.text("sekisho.toml \\- configuration file of the Sekisho DNS resolver");
    out.section("SYNOPSIS");
    out.text("\\fB/etc/sekisho/sekisho.toml\\fR");
    markdown::render(markdown, &mut out, Some("DESCRIPTION"));
    out.section("SEE ALSO");
    out.text("\\fBsekisho\\fR(8), \\fBsekishoctl\\fR(8)");
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_becomes_description_and_keys_become_tagged_paragraphs() {
        let md = "# Configuration reference\n\nIntro.\n\n## `[server]`\n\n\
                  | key | type | default | meaning |\n|---|---|---|---|\n\
                  | `listen` | list of addresses | `[\"127.0.0.1:5300\"]` | Where to answer. |\n";
        let page = config_page(md, "2026-12-06", "0.1.0");
        assert!(
            page.starts_with(".TH \"SEKISHO.TOML\" \"5\" \"2026-12-06\" \"sekisho 0.1.0\""),
            "{page}"
        );
        assert!(
            page.contains(".SH\nDESCRIPTION\n.PP\nIntro.\n.SH\n\\%[server]\n"),
            "{page}"
        );
        assert!(
            page.contains(".TP\n\\fB\\%listen\\fR\nlist of addresses; \\fB\\%[\"127.0.0.1:5300\"]\\fR; Where to answer.\n"),
            "{page}"
        );
    }
}
