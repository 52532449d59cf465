//! A self-contained HTML report: one file with inline CSS and inline SVG figures, no scripts
//! and nothing fetched from elsewhere, so it opens anywhere and can be mailed or archived.

use std::path::Path;

use crate::error::Result;
use crate::files::write_atomic;

/// The page style (system fonts, readable width, figures that shrink on narrow screens).
const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;\
max-width:70rem;padding:0 1rem;color:#222;line-height:1.45}\
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}\
figure{margin:1.5rem 0}figure svg{max-width:100%;height:auto;border:1px solid #eee}\
figcaption{color:#555;font-size:.9rem;margin-top:.3rem}\
table{border-collapse:collapse;margin:1rem 0;font-size:.92rem}\
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}\
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}\
pre{background:#f7f7f7;padding:.8rem;overflow-x:auto;font-size:.85rem}";

/// `text` with the characters HTML gives meaning to (`& < > " '`) escaped, safe in element
/// content and quoted attributes.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A report page built block by block; every text is escaped, figures are inlined as given.
#[derive(Debug, Clone, Default)]
pub struct HtmlReport {
    title: String,
    body: String,
}

impl HtmlReport {
    /// An empty page titled `title` (the tab title and the top heading).
    pub fn new(title: &str) -> Self {
        Self {
            title: title.to_string(),
            body: String::new(),
        }
    }

    /// Appends a paragraph.
    pub fn paragraph(&mut self, text: &str) -> &mut Self {
        self.body
            .push_str(&format!("<p>{}</p>\n", escape_html(text)));
        self
    }

    /// Appends a section heading.
    pub fn heading(&mut self, text: &str) -> &mut Self {
        self.body
            .push_str(&format!("<h2>{}</h2>\n", escape_html(text)));
        self
    }

    /// Appends a figure: `svg`, an SVG document from this module's plot functions, inlined as
    /// is (any XML declaration before `<svg` is dropped), with `caption` below it.
    pub fn figure(&mut self, caption: &str, svg: &str) -> &mut Self {
        let inline = svg.find("<svg").map_or(svg, |start| &svg[start..]);
        self.body.push_str(&format!(
            "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
            inline.trim_end(),
            escape_html(caption)
        ));
        self
    }

    /// Appends a table with `headers` and `rows` of cells (a short row leaves cells empty).
    pub fn table(&mut self, headers: &[&str], rows: &[Vec<String>]) -> &mut Self {
        let cells = |tag: &str, texts: &mut dyn Iterator<Item = &str>| {
            texts
                .map(|t| format!("<{tag}>{}</{tag}>", escape_html(t)))
                .collect::<String>()
        };
        self.body.push_str("<table>\n<thead><tr>");
        self.body
            .push_str(&cells("th", &mut headers.iter().copied()));
        self.body.push_str("</tr></thead>\n<tbody>\n");
        for row in rows {
            let width = headers.len().max(row.len());
            let mut texts = row.iter().map(String::as_str).chain(std::iter::repeat(""));
            self.body.push_str("<tr>");
            self.body
                .push_str(&cells("td", &mut texts.by_ref().take(width)));
            self.body.push_str("</tr>\n");
        }
        self.body.push_str("</tbody>\n</table>\n");
        self
    }

    /// Appends preformatted text (settings, logs), shown in a monospace block.
    pub fn preformatted(&mut self, text: &str) -> &mut Self {
        self.body
            .push_str(&format!("<pre>{}</pre>\n", escape_html(text)));
        self
    }

    /// The whole page.
    pub fn render(&self) -> String {
        let title = escape_html(&self.title);
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
             <h1>{title}</h1>\n{}</body>\n</html>\n",
            self.body
        )
    }

    /// Writes the page to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomic(path, self.render().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_figures_inlined() {
        let mut page = HtmlReport::new("run <1> & co");
        page.heading("a < b")
            .paragraph("x & y")
            .figure(
                "fig \"one\"",
                "<?xml version=\"1.0\"?>\n<svg><rect/></svg>\n",
            )
            .table(
                &["model", "errors"],
                &[vec!["<m>".into()], vec!["a".into(), "1".into()]],
            )
            .preformatted("{\"k\": \"<v>\"}");
        let html = page.render();
        assert!(html.contains("<title>run &lt;1&gt; &amp; co</title>"));
        assert!(html.contains("<h2>a &lt; b</h2>"));
        assert!(html.contains("<p>x &amp; y</p>"));
        assert!(html.contains("<figure>\n<svg><rect/></svg>\n<figcaption>fig &quot;one&quot;"));
        assert!(!html.contains("<?xml"));
        assert!(html.contains("<tr><td>&lt;m&gt;</td><td></td></tr>"));
        assert!(html.contains("<pre>{&quot;k&quot;: &quot;&lt;v&gt;&quot;}</pre>"));
        for external in ["<script", "src=", "href=", "url(", "@import"] {
            assert!(!html.contains(external), "{external} in {html}");
        }
    }
}
