//! Message formatting: markdown parsed (by pulldown-cmark) into a small tree of the
//! things chat uses (bold, italic, strikethrough, code, code blocks, quotes, lists,
//! links), then rendered to view nodes. No HTML string is ever produced or injected:
//! raw HTML in a message becomes text, and only `http`, `https` and `mailto` links
//! become links, so no sanitiser has to be right. The server render and the hydrated
//! render run this same code.

use leptos::prelude::*;
use pulldown_cmark::{Event, LinkType, Options, Parser, Tag};

/// Containers nested deeper than this are flattened into their parent: a message of
/// 2,000 `>` must not become 2,000 nested elements (and as deep a recursion).
const MAX_DEPTH: usize = 12;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    Paragraph(Vec<Inline>),
    /// Inline content outside a paragraph: the items of a tight list.
    Plain(Vec<Inline>),
    /// Shown as a bold line: a chat message has no place in the page's outline.
    Heading(Vec<Inline>),
    Code(String),
    Quote(Vec<Block>),
    List {
        /// The first number of an ordered list; `None` for bullets.
        start: Option<u64>,
        items: Vec<Vec<Block>>,
    },
    Rule,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inline {
    Text(String),
    Code(String),
    Emphasis(Vec<Inline>),
    Strong(Vec<Inline>),
    Strikethrough(Vec<Inline>),
    /// `href` is always `http:`, `https:` or `mailto:`.
    Link {
        href: String,
        children: Vec<Inline>,
    },
    LineBreak,
}

/// A container being filled while the events stream by.
enum Open {
    Blocks(BlockKind, Vec<Block>),
    Inlines(InlineKind, Vec<Inline>),
    Code(String),
    /// A container beyond [`MAX_DEPTH`], or one we do not render: its content goes to
    /// the container below it.
    Skipped,
}

enum BlockKind {
    Document,
    Quote,
    List(Option<u64>, Vec<Vec<Block>>),
    Item,
}

enum InlineKind {
    Paragraph,
    Heading,
    Emphasis,
    Strong,
    Strikethrough,
    /// `None` when the target is not a link we allow: the text stays, unlinked.
    Link(Option<String>),
}

/// Parses a message body.
pub fn parse(source: &str) -> Vec<Block> {
    let mut stack: Vec<Open> = vec![Open::Blocks(BlockKind::Document, Vec::new())];
    let mut depth = 0;
    // Inside links, URLs are not turned into links again.
    let mut in_link = 0u32;
    for event in Parser::new_ext(source, Options::ENABLE_STRIKETHROUGH) {
        match event {
            Event::Start(tag) => {
                let open = if depth >= MAX_DEPTH {
                    Open::Skipped
                } else {
                    match tag {
                        Tag::Paragraph => Open::Inlines(InlineKind::Paragraph, Vec::new()),
                        Tag::Heading { .. } => Open::Inlines(InlineKind::Heading, Vec::new()),
                        Tag::BlockQuote(_) => Open::Blocks(BlockKind::Quote, Vec::new()),
                        // Fenced and indented alike; the language is not shown.
                        Tag::CodeBlock(_) => Open::Code(String::new()),
                        // Raw HTML: its lines arrive as `Html` events, kept as text.
                        Tag::HtmlBlock => Open::Inlines(InlineKind::Paragraph, Vec::new()),
                        Tag::List(start) => {
                            Open::Blocks(BlockKind::List(start, Vec::new()), Vec::new())
                        }
                        Tag::Item => Open::Blocks(BlockKind::Item, Vec::new()),
                        Tag::Emphasis => Open::Inlines(InlineKind::Emphasis, Vec::new()),
                        Tag::Strong => Open::Inlines(InlineKind::Strong, Vec::new()),
                        Tag::Strikethrough => Open::Inlines(InlineKind::Strikethrough, Vec::new()),
                        Tag::Link {
                            link_type,
                            dest_url,
                            ..
                        }
                        | Tag::Image {
                            link_type,
                            dest_url,
                            ..
                        } => {
                            in_link += 1;
                            Open::Inlines(
                                InlineKind::Link(safe_href(link_type, &dest_url)),
                                Vec::new(),
                            )
                        }
                        // Tables, footnotes and the like are not enabled; their text
                        // still reaches the container below.
                        _ => Open::Skipped,
                    }
                };
                if !matches!(open, Open::Skipped) {
                    depth += 1;
                }
                stack.push(open);
            }
            Event::End(_) => {
                let Some(open) = stack.pop() else { break };
                if stack.is_empty() {
                    // Unbalanced (cannot happen with pulldown-cmark): keep what we have.
                    stack.push(open);
                    break;
                }
                match open {
                    Open::Skipped => {}
                    Open::Code(text) => {
                        depth -= 1;
                        push_block(&mut stack, Block::Code(text));
                    }
                    Open::Inlines(kind, children) => {
                        depth -= 1;
                        match kind {
                            InlineKind::Paragraph => {
                                push_block(&mut stack, Block::Paragraph(children))
                            }
                            InlineKind::Heading => push_block(&mut stack, Block::Heading(children)),
                            InlineKind::Emphasis => {
                                push_inline(&mut stack, Inline::Emphasis(children))
                            }
                            InlineKind::Strong => push_inline(&mut stack, Inline::Strong(children)),
                            InlineKind::Strikethrough => {
                                push_inline(&mut stack, Inline::Strikethrough(children))
                            }
                            InlineKind::Link(Some(href)) => {
                                in_link -= 1;
                                push_inline(&mut stack, Inline::Link { href, children })
                            }
                            InlineKind::Link(None) => {
                                in_link -= 1;
                                for child in children {
                                    push_inline(&mut stack, child);
                                }
                            }
                        }
                    }
                    Open::Blocks(kind, blocks) => {
                        depth -= 1;
                        match kind {
                            BlockKind::Document => {}
                            BlockKind::Quote => push_block(&mut stack, Block::Quote(blocks)),
                            BlockKind::List(start, mut items) => {
                                // Content of items skipped past the depth limit.
                                if !blocks.is_empty() {
                                    items.push(blocks);
                                }
                                push_block(&mut stack, Block::List { start, items })
                            }
                            BlockKind::Item => match stack.last_mut() {
                                Some(Open::Blocks(BlockKind::List(_, items), _)) => {
                                    items.push(blocks)
                                }
                                _ => {
                                    for block in blocks {
                                        push_block(&mut stack, block);
                                    }
                                }
                            },
                        }
                    }
                }
            }
            Event::Text(text) => {
                if let Some(Open::Code(code)) = stack.last_mut() {
                    code.push_str(&text);
                } else if in_link > 0 {
                    push_text(&mut stack, &text);
                } else {
                    linkify(&mut stack, &text);
                }
            }
            Event::Code(code) => push_inline(&mut stack, Inline::Code(code.to_string())),
            // Markup typed into a message is shown as typed, line by line.
            Event::Html(raw) => {
                if let Open::Inlines(_, children) = current(&mut stack) {
                    if !children.is_empty() {
                        children.push(Inline::LineBreak);
                    }
                }
                push_text(&mut stack, raw.trim_end_matches('\n'));
            }
            Event::InlineHtml(raw) => push_text(&mut stack, &raw),
            Event::InlineMath(text) | Event::DisplayMath(text) | Event::FootnoteReference(text) => {
                push_text(&mut stack, &text)
            }
            // In chat a line break in the source is a line break on screen.
            Event::SoftBreak | Event::HardBreak => push_inline(&mut stack, Inline::LineBreak),
            Event::Rule => push_block(&mut stack, Block::Rule),
            Event::TaskListMarker(done) => {
                push_text(&mut stack, if done { "[x] " } else { "[ ] " })
            }
        }
    }
    while stack.len() > 1 {
        // Close whatever is left open, innermost first (defensive; the parser balances).
        if let Some(Open::Blocks(_, blocks)) = stack.pop() {
            for block in blocks {
                push_block(&mut stack, block);
            }
        }
    }
    match stack.pop() {
        Some(Open::Blocks(_, blocks)) => blocks,
        _ => Vec::new(),
    }
}

/// The link target if it is one we allow; relative and other schemes are not.
fn safe_href(link_type: LinkType, dest: &str) -> Option<String> {
    let dest = dest.trim();
    if matches!(link_type, LinkType::Email) {
        return (!dest.contains(':')).then(|| format!("mailto:{dest}"));
    }
    let lower = dest.to_ascii_lowercase();
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| lower.starts_with(scheme) && lower.len() > scheme.len())
        .then(|| dest.to_string())
}

/// The container that content goes into: the innermost that is not skipped.
fn current(stack: &mut [Open]) -> &mut Open {
    stack
        .iter_mut()
        .rev()
        .find(|open| !matches!(open, Open::Skipped))
        .expect("the document is never skipped")
}

fn push_inline(stack: &mut [Open], inline: Inline) {
    match current(stack) {
        Open::Inlines(_, children) => append(children, inline),
        Open::Code(code) => code.push_str(&plain_text(&[inline])),
        Open::Blocks(_, blocks) => match blocks.last_mut() {
            Some(Block::Plain(children)) => append(children, inline),
            _ => blocks.push(Block::Plain(vec![inline])),
        },
        Open::Skipped => unreachable!("current() skips these"),
    }
}

/// Adds an inline, merging neighbouring text.
fn append(children: &mut Vec<Inline>, inline: Inline) {
    if let (Some(Inline::Text(last)), Inline::Text(text)) = (children.last_mut(), &inline) {
        last.push_str(text);
    } else {
        children.push(inline);
    }
}

fn push_text(stack: &mut [Open], text: &str) {
    let mut lines = text.split('\n').peekable();
    while let Some(line) = lines.next() {
        if !line.is_empty() {
            push_inline(stack, Inline::Text(line.to_string()));
        }
        if lines.peek().is_some_and(|next| !next.is_empty()) {
            push_inline(stack, Inline::LineBreak);
        }
    }
}

fn push_block(stack: &mut [Open], block: Block) {
    match current(stack) {
        Open::Blocks(_, blocks) => blocks.push(block),
        // Only reachable past the depth limit: keep the words.
        _ => push_text(stack, &plain_text_of_block(&block)),
    }
}

/// Turns bare `http(s)://` URLs in text into links.
fn linkify(stack: &mut [Open], text: &str) {
    let mut finder = linkify::LinkFinder::new();
    finder.kinds(&[linkify::LinkKind::Url]);
    for span in finder.spans(text) {
        let piece = span.as_str();
        let href = span
            .kind()
            .and_then(|_| safe_href(LinkType::Inline, piece))
            .filter(|href| !href.starts_with("mailto:"));
        match href {
            Some(href) => push_inline(
                stack,
                Inline::Link {
                    href,
                    children: vec![Inline::Text(piece.to_string())],
                },
            ),
            None => push_text(stack, piece),
        }
    }
}

fn plain_text(inlines: &[Inline]) -> String {
    let mut out = String::new();
    for inline in inlines {
        match inline {
            Inline::Text(text) | Inline::Code(text) => out.push_str(text),
            Inline::Emphasis(children)
            | Inline::Strong(children)
            | Inline::Strikethrough(children)
            | Inline::Link { children, .. } => out.push_str(&plain_text(children)),
            Inline::LineBreak => out.push('\n'),
        }
    }
    out
}

fn plain_text_of_block(block: &Block) -> String {
    match block {
        Block::Paragraph(inlines) | Block::Plain(inlines) | Block::Heading(inlines) => {
            plain_text(inlines)
        }
        Block::Code(text) => text.clone(),
        Block::Quote(blocks) => blocks
            .iter()
            .map(plain_text_of_block)
            .collect::<Vec<_>>()
            .join("\n"),
        Block::List { items, .. } => items
            .iter()
            .flatten()
            .map(plain_text_of_block)
            .collect::<Vec<_>>()
            .join("\n"),
        Block::Rule => String::new(),
    }
}

/// A message body, formatted.
#[component]
pub fn Markdown(#[prop(into)] source: String) -> impl IntoView {
    blocks_view(parse(&source))
}

fn blocks_view(blocks: Vec<Block>) -> AnyView {
    blocks.into_iter().map(block_view).collect_view().into_any()
}

fn block_view(block: Block) -> AnyView {
    match block {
        Block::Paragraph(inlines) => view! { <p>{inlines_view(inlines)}</p> }.into_any(),
        Block::Plain(inlines) => inlines_view(inlines),
        Block::Heading(inlines) => {
            view! { <p class="md-heading"><strong>{inlines_view(inlines)}</strong></p> }.into_any()
        }
        Block::Code(text) => view! { <pre class="md-code"><code>{text}</code></pre> }.into_any(),
        Block::Quote(blocks) => view! { <blockquote>{blocks_view(blocks)}</blockquote> }.into_any(),
        Block::List { start: None, items } => view! { <ul>{items_view(items)}</ul> }.into_any(),
        Block::List {
            start: Some(start),
            items,
        } => view! { <ol start=start.to_string()>{items_view(items)}</ol> }.into_any(),
        Block::Rule => view! { <hr /> }.into_any(),
    }
}

fn items_view(items: Vec<Vec<Block>>) -> AnyView {
    items
        .into_iter()
        .map(|blocks| view! { <li>{blocks_view(blocks)}</li> })
        .collect_view()
        .into_any()
}

fn inlines_view(inlines: Vec<Inline>) -> AnyView {
    inlines
        .into_iter()
        .map(inline_view)
        .collect_view()
        .into_any()
}

/// Text with each `@name` and `@room` set apart.
fn mentions_view(text: String) -> AnyView {
    let (_, spans) = crate::mentions::find(&text);
    if spans.is_empty() {
        return text.into_any();
    }
    let mut parts = Vec::new();
    let mut at = 0;
    for (range, _) in spans {
        parts.push(text[at..range.start].to_string().into_any());
        let mention = text[range.clone()].to_string();
        parts.push(view! { <span class="at">{mention}</span> }.into_any());
        at = range.end;
    }
    parts.push(text[at..].to_string().into_any());
    parts.collect_view().into_any()
}

fn inline_view(inline: Inline) -> AnyView {
    match inline {
        Inline::Text(text) => mentions_view(text),
        Inline::Code(text) => view! { <code>{text}</code> }.into_any(),
        Inline::Emphasis(children) => view! { <em>{inlines_view(children)}</em> }.into_any(),
        Inline::Strong(children) => view! { <strong>{inlines_view(children)}</strong> }.into_any(),
        Inline::Strikethrough(children) => view! { <del>{inlines_view(children)}</del> }.into_any(),
        Inline::Link { href, children } => view! {
            <a href=href rel="noopener noreferrer nofollow" target="_blank">
                {inlines_view(children)}
            </a>
        }
        .into_any(),
        Inline::LineBreak => view! { <br /> }.into_any(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Inline {
        Inline::Text(s.into())
    }

    #[test]
    fn the_chat_subset_of_markdown() {
        assert_eq!(
            parse("**bold** *it* ~~gone~~ `code`"),
            vec![Block::Paragraph(vec![
                Inline::Strong(vec![text("bold")]),
                text(" "),
                Inline::Emphasis(vec![text("it")]),
                text(" "),
                Inline::Strikethrough(vec![text("gone")]),
                text(" "),
                Inline::Code("code".into()),
            ])]
        );
        assert_eq!(
            parse("```rust\nfn main() {}\n```"),
            vec![Block::Code("fn main() {}\n".into())]
        );
        assert_eq!(
            parse("- one\n- two"),
            vec![Block::List {
                start: None,
                items: vec![
                    vec![Block::Plain(vec![text("one")])],
                    vec![Block::Plain(vec![text("two")])]
                ]
            }]
        );
        assert_eq!(
            parse("3. three\n4. four"),
            vec![Block::List {
                start: Some(3),
                items: vec![
                    vec![Block::Plain(vec![text("three")])],
                    vec![Block::Plain(vec![text("four")])]
                ]
            }]
        );
        assert_eq!(
            parse("> quoted"),
            vec![Block::Quote(vec![Block::Paragraph(vec![text("quoted")])])]
        );
        assert_eq!(
            parse("line one\nline two"),
            vec![Block::Paragraph(vec![
                text("line one"),
                Inline::LineBreak,
                text("line two")
            ])]
        );
    }

    #[test]
    fn raw_html_is_text() {
        assert_eq!(
            parse("<script>alert(1)</script>"),
            vec![Block::Paragraph(vec![text("<script>alert(1)</script>")])]
        );
        assert_eq!(
            parse("look <img src=x onerror=alert(1)> here"),
            vec![Block::Paragraph(vec![text(
                "look <img src=x onerror=alert(1)> here"
            )])]
        );
        assert_eq!(
            parse("<div>\n<b>hi</b>\n</div>"),
            vec![Block::Paragraph(vec![
                text("<div>"),
                Inline::LineBreak,
                text("<b>hi</b>"),
                Inline::LineBreak,
                text("</div>"),
            ])]
        );
    }

    #[test]
    fn only_web_and_mail_links_become_links() {
        assert_eq!(
            parse("[site](https://example.com/a?b=1)"),
            vec![Block::Paragraph(vec![Inline::Link {
                href: "https://example.com/a?b=1".into(),
                children: vec![text("site")]
            }])]
        );
        for unsafe_link in [
            "[x](javascript:alert(1))",
            "[x](JAVASCRIPT:alert(1))",
            "[x](data:text/html,hi)",
            "[x](/relative)",
            "[x](//evil.example)",
            "![x](javascript:alert(1))",
        ] {
            assert_eq!(
                parse(unsafe_link),
                vec![Block::Paragraph(vec![text("x")])],
                "{unsafe_link}"
            );
        }
        assert_eq!(
            parse("<me@example.com>"),
            vec![Block::Paragraph(vec![Inline::Link {
                href: "mailto:me@example.com".into(),
                children: vec![text("me@example.com")]
            }])]
        );
        // An image is a link to it, never loaded.
        assert_eq!(
            parse("![a cat](https://example.com/cat.png)"),
            vec![Block::Paragraph(vec![Inline::Link {
                href: "https://example.com/cat.png".into(),
                children: vec![text("a cat")]
            }])]
        );
    }

    #[test]
    fn bare_urls_are_autolinked_outside_code_and_links() {
        assert_eq!(
            parse("see https://example.com/x, then"),
            vec![Block::Paragraph(vec![
                text("see "),
                Inline::Link {
                    href: "https://example.com/x".into(),
                    children: vec![text("https://example.com/x")]
                },
                text(", then"),
            ])]
        );
        assert_eq!(
            parse("`https://example.com`"),
            vec![Block::Paragraph(vec![Inline::Code(
                "https://example.com".into()
            )])]
        );
        assert_eq!(
            parse("ftp://example.com and javascript://x"),
            vec![Block::Paragraph(vec![text(
                "ftp://example.com and javascript://x"
            )])]
        );
    }

    #[test]
    fn deep_nesting_is_flattened() {
        let source = ">".repeat(2000) + " deep";
        let blocks = parse(&source);
        fn depth(blocks: &[Block]) -> usize {
            blocks
                .iter()
                .map(|b| match b {
                    Block::Quote(inner) => 1 + depth(inner),
                    Block::List { items, .. } => {
                        1 + items.iter().map(|i| depth(i)).max().unwrap_or(0)
                    }
                    _ => 0,
                })
                .max()
                .unwrap_or(0)
        }
        assert!(depth(&blocks) <= MAX_DEPTH, "{}", depth(&blocks));
        assert!(blocks
            .iter()
            .map(plain_text_of_block)
            .collect::<String>()
            .contains("deep"));
        let lists = "- ".repeat(500) + "item";
        assert!(depth(&parse(&lists)) <= MAX_DEPTH);
        let emphasis = "*".repeat(3000) + "x" + &"*".repeat(3000);
        parse(&emphasis);
    }

    #[test]
    fn rendering_escapes_text() {
        // Without the hydration markers, which are comments.
        let html =
            view! { <Markdown source="**b** <script>alert(1)</script> [x](https://e.com)" /> }
                .to_html()
                .replace("<!>", "");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("<strong>b</strong>"), "{html}");
        assert!(
            html.contains(r#"<a href="https://e.com" rel="noopener noreferrer nofollow" target="_blank">x</a>"#),
            "{html}"
        );
    }
}
